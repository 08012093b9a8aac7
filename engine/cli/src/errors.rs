//! How the program reports an error on stderr.

/// The error and its causes, each said once: a cause whose text is already in the message
/// (an error that shows its source, as `#[error("transport: {0}")]` does) is not repeated.
pub fn said_once(e: &anyhow::Error) -> String {
    let mut out = e.to_string();
    for cause in e.chain().skip(1).map(ToString::to_string) {
        if !out.contains(&cause) {
            out = format!("{out}: {cause}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn causes_already_in_the_message_are_said_once() {
        let io = std::io::Error::from(std::io::ErrorKind::AddrInUse);
        let e = anyhow::Error::new(io).context("binding 127.0.0.1:7000 failed: address in use");
        assert_eq!(super::said_once(&e), "binding 127.0.0.1:7000 failed: address in use");
        let e = anyhow::Error::new(std::io::Error::other("disk full")).context("writing report.md");
        assert_eq!(super::said_once(&e), "writing report.md: disk full");
    }
}
