//! `argent key`: cluster keys; and how a keyed node reports what it refused.

use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct KeyArgs {
    #[command(subcommand)]
    what: KeyCommand,
}

#[derive(clap::Subcommand, Debug)]
enum KeyCommand {
    /// Print a new random cluster key file (epoch 1) to stdout: `argent key new > cluster.key`,
    /// then copy it to every member and keep it readable by nobody else.
    New,
    /// Check a key file and print its epochs (never the key).
    Show {
        /// The key file.
        file: std::path::PathBuf,
    },
}

pub fn run(a: KeyArgs) -> anyhow::Result<ExitCode> {
    match a.what {
        KeyCommand::New => {
            print!("{}", argent::auth::KeyRing::new_file()?);
            if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
                eprintln!("argent: that key is secret; save it with `argent key new > cluster.key`");
            }
        }
        KeyCommand::Show { file } => {
            let ring = argent::auth::KeyRing::load(&file)?;
            let epochs: Vec<String> = ring.epochs().map(|e| e.to_string()).collect();
            println!(
                "{}: epochs {} (datagrams are sealed under {})",
                file.display(),
                epochs.join(", "),
                ring.current().epoch
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: datagrams a keyed node opened, and what it refused, by kind.
pub fn refusals(s: &argent::AuthStats) -> String {
    let o = &s.open;
    format!(
        "authenticated {} datagrams; refused {}: {} forged, {} replayed, {} too old, {} from outside the view, \
         {} naming another sender, {} from an address not the sender's, {} of an unknown key epoch, {} in the other mode, {} malformed",
        o.opened,
        s.refused(),
        o.forged,
        o.replay,
        o.stale,
        o.not_member,
        s.wrong_from,
        s.wrong_source,
        o.epoch,
        o.mode,
        o.short + o.version + o.full
    )
}
