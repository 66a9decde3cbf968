//! The latency-percentile plot (`--plot FILE.svg`), written as SVG by hand.
//!
//! The x axis is the "nines" scale usual for latency: 0 %, 90 %, 99 %, 99.9 %, 99.99 % are
//! evenly spaced, so the tail, where servers differ, gets as much room as the median. The y
//! axis is latency in milliseconds on a log scale, because one plot holds steps that take
//! microseconds (NOOP) and whole sessions that take seconds. One line per recorded step.
//!
//! Hand-written because the picture is a few dozen elements; a plotting crate would bring
//! fonts and a rendering stack for nothing.

use crate::report::Report;
use std::fmt::Write as _;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 540.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 215.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
/// The x axis ends at four nines (99.99 %), where the report's curves end.
const MAX_NINES: f64 = 4.0;

/// Distinct colours, one per step in [`crate::metrics::Step::ALL`] order.
const COLOURS: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Escapes text for SVG character data and attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Label for a y tick at 10^`exp` ms.
fn ms_label(exp: i32) -> String {
    if exp >= 0 {
        format!("{}", 10u64.pow(exp.unsigned_abs()))
    } else {
        format!("{:.*}", exp.unsigned_abs() as usize, 10f64.powi(exp))
    }
}

/// Renders the report's percentile curves.
pub fn render_svg(report: &Report) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;

    // Log-scale bounds: whole decades around all values; a latency below the histogram's
    // 1 µs resolution cannot occur, and the floor keeps log10 finite.
    let values = report
        .steps
        .iter()
        .flat_map(|s| s.curve.iter().map(|p| p.ms))
        .filter(|v| v.is_finite() && *v > 0.0);
    let (lo, hi) = values.fold((f64::INFINITY, 0.0f64), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo_exp, hi_exp) = if hi > 0.0 {
        let lo_exp = lo.max(0.001).log10().floor() as i32;
        let hi_exp = (hi.log10().ceil() as i32).max(lo_exp + 1);
        (lo_exp, hi_exp)
    } else {
        (-1, 1)
    };
    let x_of = |nines: f64| LEFT + nines.clamp(0.0, MAX_NINES) / MAX_NINES * plot_w;
    let y_of = |ms: f64| {
        let exp = ms
            .max(0.001)
            .log10()
            .clamp(f64::from(lo_exp), f64::from(hi_exp));
        TOP + plot_h - (exp - f64::from(lo_exp)) / f64::from(hi_exp - lo_exp) * plot_h
    };

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let title = format!(
        "{} against {}: {} connections, {:.1} s",
        report.scenario, report.target, report.connections, report.elapsed_secs
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="28" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(&title)
    );

    // Grid and ticks.
    let _ = writeln!(svg, r##"<g stroke="#dddddd" stroke-width="1">"##);
    for exp in lo_exp..=hi_exp {
        let y = y_of(10f64.powi(exp));
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/>"#,
            LEFT + plot_w
        );
    }
    for nines in 0..=MAX_NINES as u32 {
        let x = x_of(f64::from(nines));
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{TOP:.1}" x2="{x:.1}" y2="{:.1}"/>"#,
            TOP + plot_h
        );
    }
    svg.push_str("</g>\n");
    for exp in lo_exp..=hi_exp {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LEFT - 8.0,
            y_of(10f64.powi(exp)) + 4.0,
            ms_label(exp)
        );
    }
    for (nines, label) in ["0%", "90%", "99%", "99.9%", "99.99%"].iter().enumerate() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{label}</text>"#,
            x_of(nines as f64),
            TOP + plot_h + 20.0
        );
    }
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">percentile</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 15.0
    );
    let _ = writeln!(
        svg,
        r#"<text x="20" y="{:.1}" text-anchor="middle" transform="rotate(-90 20 {:.1})">latency (ms, log scale)</text>"#,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT:.1}" y="{TOP:.1}" width="{plot_w:.1}" height="{plot_h:.1}" fill="none" stroke="black"/>"#
    );

    // One line per step, and its legend entry.
    for (i, step) in report.steps.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let points: Vec<String> = step
            .curve
            .iter()
            .filter(|p| p.nines.is_finite() && p.ms.is_finite())
            .map(|p| format!("{:.1},{:.1}", x_of(p.nines), y_of(p.ms)))
            .collect();
        let _ = writeln!(
            svg,
            r#"<polyline fill="none" stroke="{colour}" stroke-width="2" points="{}"><title>{}</title></polyline>"#,
            points.join(" "),
            escape(step.step.name())
        );
        let y = TOP + 10.0 + i as f64 * 20.0;
        let x = LEFT + plot_w + 15.0;
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{colour}" stroke-width="3"/>"#,
            x + 20.0
        );
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}">{} (p99 {:.2} ms)</text>"#,
            x + 26.0,
            y + 4.0,
            escape(step.step.name()),
            step.p99_ms
        );
    }
    if report.steps.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no operation was recorded</text>"#,
            LEFT + plot_w / 2.0,
            TOP + plot_h / 2.0
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Writes [`render_svg`] to `path`.
pub fn write_svg(report: &Report, path: &std::path::Path) -> std::io::Result<()> {
    std::fs::write(path, render_svg(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels() {
        assert_eq!(ms_label(0), "1");
        assert_eq!(ms_label(3), "1000");
        assert_eq!(ms_label(-2), "0.01");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
