//! Graceful shutdown on SIGINT / SIGTERM; quiet on SIGTSTP.

/// Resolves on SIGINT or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            s.recv().await;
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
    tracing::info!("shutting down");
}

/// Resolves on SIGTSTP (a worker then takes no new jobs; running ones go
/// on, as Sidekiq's quiet). Never resolves where there is no such signal.
pub async fn quiet() {
    #[cfg(unix)]
    if let Ok(mut s) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::from_raw(libc::SIGTSTP)) {
        s.recv().await;
        return;
    }
    std::future::pending::<()>().await
}
