"""Schemathesis hooks for tests/fuzz.sh: the fuzzer's session.

The session is the document's `session` security scheme (a cookie). It is
fetched from the test login, and fetched again whenever a request answers
401: a fuzzed identity change (the fuzzer's own Discord id, say) ends its
session by design.
"""

import os

import requests
import schemathesis


@schemathesis.auth(retry_on=[401])
class FuzzerSession:
    def get(self, case, context):
        base = os.environ["DTX_FUZZ_BASE"]
        resp = requests.post(
            f"{base}/tests/login",
            json={"username": "fuzzer", "is_staff": True, "is_superuser": True},
            timeout=10,
        )
        resp.raise_for_status()
        return resp.cookies["dtx_session"]

    def set(self, case, data, context):
        case.cookies = case.cookies or {}
        case.cookies["dtx_session"] = data
