//! Retransmission timeouts from measured round-trip times (RFC 6298, as nmap does with srtt + 4·rttvar).
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TimingConfig {
    /// Timeout before any RTT has been measured.
    pub initial_rto: Duration,
    pub min_rto: Duration,
    pub max_rto: Duration,
    /// Retries every unanswered probe gets (TCP), or gets while no loss has been seen (UDP).
    pub min_retries: u8,
    /// The cap on retries. TCP retries a silent port until loss is ruled out (see `congestion`);
    /// UDP retries this much once loss has been seen.
    pub max_retries: u8,
}

impl Default for TimingConfig {
    fn default() -> Self {
        TimingConfig {
            initial_rto: Duration::from_millis(1000),
            min_rto: Duration::from_millis(100),
            max_rto: Duration::from_millis(3000),
            min_retries: 1,
            // nmap's default cap; loss-aware retries only reach it on very lossy paths.
            max_retries: 10,
        }
    }
}

impl TimingConfig {
    pub fn validate(&self) -> crate::Result<()> {
        if self.min_rto.is_zero() {
            return Err(crate::Error::option("min_rtt_timeout", "must be greater than zero"));
        }
        if self.min_rto > self.max_rto {
            return Err(crate::Error::option(
                "min_rtt_timeout",
                format!("{:?} is above max_rtt_timeout {:?}", self.min_rto, self.max_rto),
            ));
        }
        if self.initial_rto.is_zero() {
            return Err(crate::Error::option("initial_rtt_timeout", "must be greater than zero"));
        }
        if self.min_retries > self.max_retries {
            // Named as the pair: either one may be the one the user set.
            return Err(crate::Error::option(
                "min_retries",
                format!("{} is above max_retries ({})", self.min_retries, self.max_retries),
            ));
        }
        Ok(())
    }
}

/// Smoothed RTT and its variation, in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RttEstimator {
    srtt: f64,
    rttvar: f64,
    samples: u32,
}

impl RttEstimator {
    pub fn sample(&mut self, rtt: Duration) {
        let r = rtt.as_secs_f64() * 1e6;
        if self.samples == 0 {
            self.srtt = r;
            self.rttvar = r / 2.0;
        } else {
            self.rttvar = 0.75 * self.rttvar + 0.25 * (self.srtt - r).abs();
            self.srtt = 0.875 * self.srtt + 0.125 * r;
        }
        self.samples = self.samples.saturating_add(1);
    }

    pub fn has_samples(&self) -> bool {
        self.samples > 0
    }

    pub fn srtt(&self) -> Option<Duration> {
        self.has_samples().then(|| Duration::from_secs_f64(self.srtt / 1e6))
    }

    /// The timeout to wait for an answer, or None when nothing has been measured yet.
    pub fn rto(&self, cfg: &TimingConfig) -> Option<Duration> {
        if !self.has_samples() {
            return None;
        }
        let micros = self.srtt + 4.0 * self.rttvar;
        let d = Duration::from_secs_f64(micros.max(0.0) / 1e6);
        Some(d.clamp(cfg.min_rto, cfg.max_rto))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_sets_srtt_and_half_variance() {
        let mut e = RttEstimator::default();
        assert_eq!(e.rto(&TimingConfig::default()), None);
        e.sample(Duration::from_millis(200));
        assert_eq!(e.srtt(), Some(Duration::from_millis(200)));
        // 200 + 4 * 100 = 600 ms
        assert_eq!(e.rto(&TimingConfig::default()), Some(Duration::from_millis(600)));
    }

    #[test]
    fn rto_is_clamped() {
        let cfg = TimingConfig::default();
        let mut fast = RttEstimator::default();
        for _ in 0..20 {
            fast.sample(Duration::from_micros(50));
        }
        assert_eq!(fast.rto(&cfg), Some(cfg.min_rto));
        let mut slow = RttEstimator::default();
        slow.sample(Duration::from_secs(5));
        assert_eq!(slow.rto(&cfg), Some(cfg.max_rto));
    }

    #[test]
    fn variance_shrinks_with_stable_samples() {
        let cfg = TimingConfig { min_rto: Duration::from_millis(1), ..Default::default() };
        let mut e = RttEstimator::default();
        e.sample(Duration::from_millis(100));
        let first = e.rto(&cfg).unwrap();
        for _ in 0..50 {
            e.sample(Duration::from_millis(100));
        }
        let later = e.rto(&cfg).unwrap();
        assert!(later < first, "{later:?} should be below {first:?}");
        assert!(later >= Duration::from_millis(100));
    }

    #[test]
    fn validate_rejects_inverted_bounds() {
        let cfg = TimingConfig { min_rto: Duration::from_secs(5), ..Default::default() };
        assert!(cfg.validate().is_err());
        assert!(TimingConfig::default().validate().is_ok());
    }
}
