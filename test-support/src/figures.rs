//! Benchmark figures in one machine-readable line each, so that `scripts/bench.sh` can gather
//! the figures of every bench binary into one table (issue 19's P2–P11).
//!
//! A line reads `FIGURE|id|figure|isyswasfa|baseline|ratio|goal|met`, fields separated by `|`.

use std::fmt;

/// What a figure must reach.
#[derive(Clone, Copy, Debug)]
pub enum Goal {
    /// isyswasfa / baseline at most this (times, costs).
    RatioAtMost(f64),
    /// isyswasfa / baseline at least this (rates).
    RatioAtLeast(f64),
    /// The isyswasfa figure itself at most this, in the figure's unit.
    AtMost(f64),
    /// Reported only.
    None,
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::RatioAtMost(r) => write!(f, "≤ {r}×"),
            Goal::RatioAtLeast(r) => write!(f, "≥ {r}×"),
            Goal::AtMost(v) => write!(f, "≤ {v}"),
            Goal::None => write!(f, "reported"),
        }
    }
}

/// One figure: isyswasfa's value, the baseline's (if any) in the same unit, and the goal.
#[derive(Clone, Debug)]
pub struct Figure {
    /// The id of the figure (`P2`, `P5`, …).
    pub id: &'static str,
    /// What was measured, with its unit.
    pub figure: String,
    /// isyswasfa's value.
    pub isyswasfa: f64,
    /// The baseline's value, measured in the same run.
    pub baseline: Option<f64>,
    /// What the figure must reach.
    pub goal: Goal,
}

impl Figure {
    /// isyswasfa / baseline.
    pub fn ratio(&self) -> Option<f64> {
        self.baseline.map(|baseline| self.isyswasfa / baseline)
    }

    /// Whether the goal is met (`None` when the figure is only reported, or lacks its baseline).
    pub fn met(&self) -> Option<bool> {
        match self.goal {
            Goal::RatioAtMost(r) => self.ratio().map(|ratio| ratio <= r),
            Goal::RatioAtLeast(r) => self.ratio().map(|ratio| ratio >= r),
            Goal::AtMost(v) => Some(self.isyswasfa <= v),
            Goal::None => None,
        }
    }

    /// Prints the figure's `FIGURE|…` line.
    pub fn print(&self) {
        println!("{self}");
    }
}

fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.3}")
    }
}

impl fmt::Display for Figure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let baseline = self.baseline.map_or_else(|| "–".to_string(), number);
        let ratio = self
            .ratio()
            .map_or_else(|| "–".to_string(), |r| format!("{r:.2}"));
        let met = match self.met() {
            Some(true) => "yes",
            Some(false) => "no",
            None => "–",
        };
        write!(
            f,
            "FIGURE|{}|{}|{}|{baseline}|{ratio}|{}|{met}",
            self.id,
            self.figure,
            number(self.isyswasfa),
            self.goal
        )
    }
}

#[cfg(test)]
mod tests {
    use super::{Figure, Goal};

    #[test]
    fn a_figure_prints_its_ratio_and_verdict() {
        let figure = Figure {
            id: "P2",
            figure: "ns per call".into(),
            isyswasfa: 300.0,
            baseline: Some(200.0),
            goal: Goal::RatioAtMost(1.0),
        };
        assert_eq!(
            figure.to_string(),
            "FIGURE|P2|ns per call|300|200|1.50|≤ 1×|no"
        );
        let rate = Figure {
            baseline: Some(250.0),
            goal: Goal::RatioAtLeast(1.0),
            ..figure
        };
        assert_eq!(rate.met(), Some(true));
    }
}
