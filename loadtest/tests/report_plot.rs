//! The SVG plot: well-formed, one polyline per recorded step, only finite coordinates.

use postern_load::metrics::{Recorder, Step};
use postern_load::plot::render_svg;
use postern_load::report::{Report, RunInfo};
use std::time::Duration;

fn report_with(steps: &[(Step, &[u64])]) -> Report {
    let rec = Recorder::new();
    for (step, values) in steps {
        for &us in *values {
            rec.record(*step, Duration::from_micros(us));
        }
    }
    let info = RunInfo {
        scenario: "mixed".to_owned(),
        target: "127.0.0.1 <pop3 & imap>".to_owned(),
        connections: 3,
        elapsed: Duration::from_secs(2),
    };
    Report::build(&info, &rec.snapshot(), None, None, Vec::new())
}

/// Checks that tags nest properly (enough of XML well-formedness for a generated file).
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<String> = Vec::new();
    let mut rest = svg;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("every tag is closed") + open;
        let tag = &rest[open + 1..close];
        assert!(!tag.contains('<'), "'<' inside a tag: {tag}");
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop().as_deref(),
                Some(name.trim()),
                "mismatched </{name}>"
            );
        } else if !tag.ends_with('/') {
            let name = tag.split_whitespace().next().unwrap().to_owned();
            stack.push(name);
        }
        // Text between tags must not hold raw ampersands that start no entity.
        let text = &rest[..open];
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "raw & in {text:?}"
            );
        }
        rest = &rest[close + 1..];
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
}

fn numbers_in_points(svg: &str) -> Vec<f64> {
    svg.match_indices("points=\"")
        .flat_map(|(i, m)| {
            let start = i + m.len();
            let end = svg[start..].find('"').unwrap() + start;
            svg[start..end]
                .split([' ', ','])
                .map(|n| n.parse::<f64>().expect("a number"))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn one_polyline_per_recorded_step() {
    let report = report_with(&[
        (Step::Connect, &[50, 60, 70, 80, 5000]),
        (Step::Login, &[1000, 2000, 3000]),
        (Step::Retr, &[10, 20, 30, 40, 50, 100_000]),
        (Step::Session, &[2_000_000]),
    ]);
    let svg = render_svg(&report);
    assert!(svg.starts_with("<svg"));
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<polyline").count(), 4);
    for name in ["connect", "login", "retr", "session"] {
        assert!(svg.contains(&format!("<title>{name}</title>")), "{name}");
    }
    assert!(svg.contains("99.99%"));
    assert!(svg.contains("&lt;pop3 &amp; imap&gt;"), "title escaped");
    assert_well_formed(&svg);
    let numbers = numbers_in_points(&svg);
    assert!(!numbers.is_empty());
    assert!(numbers.iter().all(|n| n.is_finite() && *n >= 0.0));
    // Every attribute number is finite too.
    assert!(!svg.contains("NaN") && !svg.contains("inf"));
}

#[test]
fn single_value_and_empty_reports_plot_finitely() {
    let svg = render_svg(&report_with(&[(Step::Noop, &[1])]));
    assert_eq!(svg.matches("<polyline").count(), 1);
    assert_well_formed(&svg);
    assert!(numbers_in_points(&svg).iter().all(|n| n.is_finite()));
    assert!(!svg.contains("NaN") && !svg.contains("inf"));

    let svg = render_svg(&report_with(&[]));
    assert!(svg.starts_with("<svg"));
    assert_eq!(svg.matches("<polyline").count(), 0);
    assert!(svg.contains("no operation was recorded"));
    assert_well_formed(&svg);
}
