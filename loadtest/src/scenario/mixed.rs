//! `mixed`: a population of users doing different things at once, e.g.
//! `pop3-download=3,imap-sync=5,imap-idle=2,login-storm=1`.
//!
//! Each session draws its kind at random with the given weights, so over a run the mix of
//! sessions started follows the weights, while at any moment the sessions in progress mix
//! as they would on a real server (long sessions like IDLE are over-represented among the
//! live ones, just as in reality). IDLE sessions in a mix deliver their own messages (see
//! `imap_idle`).

use super::Kind;

/// The kind of the next session: `kind` itself unless it is a mix.
pub(super) fn pick(kind: &Kind) -> &Kind {
    let Kind::Mixed(parts) = kind else {
        return kind;
    };
    let total: u64 = parts.iter().map(|&(_, w)| u64::from(w)).sum();
    if total == 0 {
        // Validation refuses this; any part is as good as another then.
        return parts.first().map_or(kind, |(k, _)| k);
    }
    let mut draw = rand::random_range(0..total);
    for (k, w) in parts {
        let w = u64::from(*w);
        if draw < w {
            return k;
        }
        draw -= w;
    }
    &parts[parts.len() - 1].0
}

/// Refuses configurations that cannot run: empty or zero-weight mixes, mixes inside mixes,
/// IDLE without a Maildir to deliver into.
pub(super) fn validate(kind: &Kind, have_maildir: bool, top: bool) -> anyhow::Result<()> {
    match kind {
        Kind::Mixed(parts) => {
            if !top {
                anyhow::bail!("a mix cannot contain another mix");
            }
            if parts.iter().map(|&(_, w)| u64::from(w)).sum::<u64>() == 0 {
                anyhow::bail!("the mix has no part with a weight above zero");
            }
            for (k, _) in parts {
                validate(k, have_maildir, false)?;
            }
            Ok(())
        }
        Kind::ImapIdle { deliveries, .. } => {
            if !have_maildir {
                anyhow::bail!(
                    "imap-idle delivers messages itself and needs the Maildir template \
                     (e.g. --maildir-template /home/%u/Maildir)"
                );
            }
            if *deliveries == 0 {
                anyhow::bail!("imap-idle needs at least one delivery to measure");
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_are_followed() {
        let mix = Kind::Mixed(vec![
            (Kind::LoginStorm, 3),
            (Kind::ImapSync { newest: 1 }, 1),
            (Kind::Pop3Download { delete: false }, 0),
        ]);
        let mut counts = [0u32; 3];
        for _ in 0..4000 {
            match pick(&mix) {
                Kind::LoginStorm => counts[0] += 1,
                Kind::ImapSync { .. } => counts[1] += 1,
                _ => counts[2] += 1,
            }
        }
        assert_eq!(counts[2], 0);
        assert!((2700..3300).contains(&counts[0]), "{counts:?}");
        assert!(validate(&mix, false, true).is_ok());
        assert!(validate(&Kind::Mixed(vec![(mix.clone(), 1)]), false, true).is_err());
        assert!(validate(&Kind::Mixed(vec![(Kind::LoginStorm, 0)]), false, true).is_err());
        let idle = Kind::ImapIdle {
            noop_every: None,
            deliveries: 1,
        };
        assert!(validate(&idle, false, true).is_err());
        assert!(validate(&idle, true, true).is_ok());
    }
}
