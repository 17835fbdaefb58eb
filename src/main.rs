use clap::Parser;

fn main() {
    let cli = stackwatch::cli::Cli::parse();
    if let Err(err) = stackwatch::run(cli) {
        // One line: what failed and how to fix it (contexts are joined by `: `).
        eprintln!("stackwatch: error: {}", stackwatch::untrusted::line(&format!("{err:#}"), 2000));
        let code = if err.downcast_ref::<stackwatch::store::lock::Busy>().is_some() {
            75
        } else if let Some(i) = err.downcast_ref::<stackwatch::signals::Interrupted>() {
            i.exit_code()
        } else {
            1
        };
        std::process::exit(code);
    }
}
