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
    /// Rotate the cluster key without stopping traffic: make the next epoch, hand it to the
    /// membership service encrypted under the current one, and add it to FILE. Every member
    /// opens the new epoch as soon as its next view carries it, and seals under it 2 s
    /// later; the GMS replicas do the same. Copy the updated FILE to every member before it
    /// restarts (a member that restarts with the old file alone learns the new epoch from
    /// the GMS again, as long as the epoch it was wrapped under is in its file).
    Rotate {
        /// The cluster's key file (holds the current epoch; the new one is appended).
        #[arg(long = "key-file", value_name = "FILE")]
        file: std::path::PathBuf,
        /// GMS replicas: `ADDR[,ADDR...]` or `1=ADDR,2=ADDR,...`.
        #[arg(long, value_name = "ADDRS")]
        gms: String,
        /// Whether the cluster encrypts (as its members' `--encrypt`): the request is sealed
        /// the same way.
        #[arg(long)]
        encrypt: bool,
        /// Give up after this many seconds without a replica confirming the new epoch.
        #[arg(long, default_value_t = 10.0, value_name = "SECS")]
        timeout: f64,
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
        KeyCommand::Rotate { file, gms, encrypt, timeout } => return rotate(&file, &gms, encrypt, timeout),
    }
    Ok(ExitCode::SUCCESS)
}

fn rotate(file: &std::path::Path, gms: &str, encrypt: bool, timeout: f64) -> anyhow::Result<ExitCode> {
    use anyhow::Context;
    use argent::auth::{AuthConfig, ClusterKey, KeyRing, Mode};
    let ring = KeyRing::load(file)?;
    let replicas = crate::gms::parse_replicas(gms)?;
    if !(0.1..=3600.0).contains(&timeout) {
        anyhow::bail!("--timeout {timeout} is out of bounds: use 0.1 to 3600 seconds");
    }
    let current = ring.current();
    let epoch = current
        .epoch
        .checked_add(1)
        .context("the key file is at epoch 65535: make a new cluster key with `argent key new`")?;
    let next = ClusterKey::generate(epoch)?;
    let wrapped = current.wrap(&next)?;
    let key = argent_membership::gms::KeyEpoch { epoch, under: current.epoch, wrapped: wrapped.to_vec() };
    let auth = AuthConfig { keys: ring.clone(), mode: if encrypt { Mode::Aead } else { Mode::Mac } };
    // The file first (staged): a key the GMS hands out must never be lost here. It keeps
    // the newest epochs, at most MAX_EPOCHS with the new one.
    let epochs: Vec<u16> = ring.epochs().collect();
    let keep = epochs.len().min(argent::auth::MAX_EPOCHS - 1);
    let mut text = String::from(
        "# argent cluster key: every member of the cluster needs this file, nobody else may read it.\n\
         # Rotated with `argent key rotate`; datagrams are sealed under the highest epoch.\n",
    );
    for e in &epochs[epochs.len() - keep..] {
        text.push_str(&ring.get(*e).expect("listed").to_line());
        text.push('\n');
    }
    text.push_str(&next.to_line());
    text.push('\n');
    let staged = file.with_extension("rotating");
    std::fs::write(&staged, &text).with_context(|| format!("writing {}", staged.display()))?;
    let mode = std::fs::metadata(file).with_context(|| format!("reading {}", file.display()))?.permissions();
    std::fs::set_permissions(&staged, mode)
        .with_context(|| format!("setting the mode of {}", staged.display()))?;
    let confirmed = argent_membership::service::add_key_keyed(
        &replicas,
        &auth,
        key,
        std::time::Duration::from_secs_f64(timeout),
    )?;
    if !confirmed {
        let _ = std::fs::remove_file(&staged);
        anyhow::bail!(
            "no GMS replica at {gms} confirmed epoch {epoch} within {timeout} s: is the GMS running with this key file (and --encrypt as the cluster)? {} is unchanged",
            file.display()
        );
    }
    std::fs::rename(&staged, file).with_context(|| format!("replacing {}", file.display()))?;
    println!(
        "{}: epoch {epoch} added and handed to the GMS; members seal under it {:?} after their next view. Copy the file to every member.",
        file.display(),
        argent::auth::ACTIVATION
    );
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
