//! Supervision: when and how often a crashed actor is restarted.

use std::time::Duration;

/// When to restart an actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestartPolicy {
    /// Never restart (the default).
    #[default]
    Never,
    /// Restart after a crash: an `on_start` error or a fatal (non-recoverable) system error.
    OnFailure,
    /// Restart after a crash and also when the actor stops by itself.
    Always,
}

/// Restart policy with its limits. Backoff doubles from `min_backoff` up to `max_backoff`.
#[derive(Debug, Clone, PartialEq)]
pub struct SupervisionSpec {
    /// When to restart.
    pub policy: RestartPolicy,
    /// Restarts allowed before the actor stays stopped.
    pub max_restarts: u32,
    /// First backoff, doubled each restart.
    pub min_backoff: Duration,
    /// Backoff cap.
    pub max_backoff: Duration,
}

impl Default for SupervisionSpec {
    fn default() -> Self {
        Self {
            policy: RestartPolicy::Never,
            max_restarts: 3,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl SupervisionSpec {
    /// Never restart.
    pub fn never() -> Self {
        Self::default()
    }
    /// Restart on failure.
    pub fn on_failure() -> Self {
        Self {
            policy: RestartPolicy::OnFailure,
            ..Self::default()
        }
    }
    /// Restart on failure and on self-stop.
    pub fn always() -> Self {
        Self {
            policy: RestartPolicy::Always,
            ..Self::default()
        }
    }
    /// At most `n` restarts; after that the actor stays stopped.
    pub fn max_restarts(mut self, n: u32) -> Self {
        self.max_restarts = n;
        self
    }
    /// Backoff bounds.
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.min_backoff = min;
        self.max_backoff = max.max(min);
        self
    }

    /// Whether an actor that ended (`crashed` or stopped by itself) after `restarts`
    /// restarts gets another one.
    pub fn should_restart(&self, crashed: bool, restarts: u32) -> bool {
        let policy_allows = match self.policy {
            RestartPolicy::Never => false,
            RestartPolicy::OnFailure => crashed,
            RestartPolicy::Always => true,
        };
        policy_allows && restarts < self.max_restarts
    }

    /// The wait before restart number `attempt` (0-based): min × 2^attempt, capped at max.
    pub fn backoff_for(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.min(31)).unwrap_or(u32::MAX);
        self.min_backoff
            .checked_mul(factor)
            .unwrap_or(self.max_backoff)
            .min(self.max_backoff)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let s = SupervisionSpec::on_failure()
            .backoff(Duration::from_millis(100), Duration::from_millis(350));
        assert_eq!(s.backoff_for(0), Duration::from_millis(100));
        assert_eq!(s.backoff_for(1), Duration::from_millis(200));
        assert_eq!(s.backoff_for(2), Duration::from_millis(350));
        assert_eq!(s.backoff_for(40), Duration::from_millis(350));
    }

    #[test]
    fn policy_decides_restart() {
        let s = SupervisionSpec::on_failure().max_restarts(2);
        assert!(s.should_restart(true, 0));
        assert!(s.should_restart(true, 1));
        assert!(!s.should_restart(true, 2));
        assert!(!s.should_restart(false, 0));
        assert!(SupervisionSpec::always().should_restart(false, 0));
        assert!(!SupervisionSpec::never().should_restart(true, 0));
    }
}
