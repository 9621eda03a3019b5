//! The two exposition formats `/metrics` answers in, and which one a
//! scraper gets for its `Accept` header.
//!
//! Prometheus asks for OpenMetrics, but prometheus_client's text parser,
//! `promtool check metrics` and older scrapers read only the classic text
//! format (0.0.4), in which a counter family is named like its `_total`
//! samples and there is no `# EOF`. The metrics library writes only
//! OpenMetrics, so the classic answer is translated from it.

use axum::http::header::ACCEPT;
use axum::http::HeaderMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetricsFormat {
    /// OpenMetrics 1.0.0.
    OpenMetrics,
    /// Prometheus' classic text exposition format, version 0.0.4.
    Text,
}

impl MetricsFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            MetricsFormat::OpenMetrics => {
                "application/openmetrics-text; version=1.0.0; charset=utf-8"
            }
            MetricsFormat::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }

    /// The format for a request's `Accept` header(s): OpenMetrics if the
    /// client accepts it at all and at least as much as the classic text
    /// format, otherwise the text format.
    ///
    /// A request without `Accept`, with `*/*`, or with only media ranges
    /// that do not parse (which say nothing readable about its preference)
    /// gets OpenMetrics, what `/metrics` answered before it negotiated.
    /// A client that accepts neither format gets the text format, as from
    /// Prometheus' own client libraries: it is the one every scraper reads.
    /// A range naming a version other than the one served (OpenMetrics
    /// 1.0.0, text 0.0.4) does not accept that format.
    pub fn negotiate(headers: &HeaderMap) -> Self {
        let ranges: Vec<MediaRange> = headers
            .get_all(ACCEPT)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| split_outside_quotes(value, ','))
            .filter_map(MediaRange::parse)
            .collect();
        if ranges.is_empty() {
            return MetricsFormat::OpenMetrics;
        }
        let open_metrics = MetricsFormat::OpenMetrics.quality(&ranges);
        if open_metrics > 0 && open_metrics >= MetricsFormat::Text.quality(&ranges) {
            MetricsFormat::OpenMetrics
        } else {
            MetricsFormat::Text
        }
    }

    /// How much (in thousandths) the client accepts this format: the weight
    /// of the most specific range that matches it (RFC 9110, section 12.5.1),
    /// the highest such if several are as specific, and 0 if none matches.
    fn quality(self, ranges: &[MediaRange]) -> u16 {
        let (kind, subtype, version) = match self {
            MetricsFormat::OpenMetrics => ("application", "openmetrics-text", "1.0.0"),
            MetricsFormat::Text => ("text", "plain", "0.0.4"),
        };
        ranges
            .iter()
            .filter_map(|range| Some((range.specificity(kind, subtype, version)?, range.quality)))
            .max()
            .map_or(0, |(_, quality)| quality)
    }
}

/// One element of an `Accept` header, keeping only the parameters that
/// choose between the formats.
#[derive(Debug)]
struct MediaRange<'a> {
    kind: &'a str,
    subtype: &'a str,
    version: Option<String>,
    /// The weight, in thousandths.
    quality: u16,
}

impl<'a> MediaRange<'a> {
    /// `None` for an element that is empty or malformed, which is then
    /// ignored like one for a format the server does not speak.
    fn parse(element: &'a str) -> Option<Self> {
        let mut parts = split_outside_quotes(element, ';');
        let (kind, subtype) = parts.next()?.trim().split_once('/')?;
        if !is_token(kind) || !is_token(subtype) || (kind == "*" && subtype != "*") {
            return None;
        }
        let mut range = MediaRange {
            kind,
            subtype,
            version: None,
            quality: 1000,
        };
        for parameter in parts.map(str::trim).filter(|p| !p.is_empty()) {
            let (name, value) = parameter.split_once('=')?;
            if !is_token(name) {
                return None;
            }
            if name.eq_ignore_ascii_case("q") {
                range.quality = qvalue(value)?;
            } else {
                let value = parameter_value(value)?;
                if name.eq_ignore_ascii_case("version") {
                    range.version = Some(value);
                }
            }
        }
        Some(range)
    }

    /// How specifically this range names a format (higher is more), or
    /// `None` if it does not match it.
    fn specificity(&self, kind: &str, subtype: &str, version: &str) -> Option<u8> {
        if self.kind == "*" {
            return Some(0);
        }
        if !self.kind.eq_ignore_ascii_case(kind) {
            return None;
        }
        if self.subtype == "*" {
            return Some(1);
        }
        if !self.subtype.eq_ignore_ascii_case(subtype) {
            return None;
        }
        match &self.version {
            None => Some(2),
            Some(asked) if asked == version => Some(3),
            Some(_) => None,
        }
    }
}

/// A weight in thousandths: `0`, `1` or up to three decimals no more than 1.
fn qvalue(text: &str) -> Option<u16> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0, |value, digit| value * 10 + u16::from(digit - b'0'));
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

/// A parameter's value: a token, or a quoted string with its escapes undone.
fn parameter_value(text: &str) -> Option<String> {
    let Some(quoted) = text.strip_prefix('"') else {
        return is_token(text).then(|| text.to_string());
    };
    let mut value = String::new();
    let mut chars = quoted.chars();
    loop {
        match chars.next()? {
            '"' => return chars.as_str().is_empty().then_some(value),
            '\\' => value.push(chars.next()?),
            c => value.push(c),
        }
    }
}

/// RFC 9110's `token`.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// The characters of `text` outside its double-quoted strings (in which a
/// backslash escapes the next character), with their byte offsets.
fn outside_quotes(text: &str) -> impl Iterator<Item = (usize, char)> + '_ {
    let mut quoted = false;
    let mut escaped = false;
    text.char_indices().filter(move |&(_, c)| {
        if escaped {
            escaped = false;
            return false;
        }
        match c {
            '\\' if quoted => {
                escaped = true;
                false
            }
            '"' => {
                quoted = !quoted;
                false
            }
            _ => !quoted,
        }
    })
}

/// `text` cut at each `separator` that is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> impl Iterator<Item = &str> {
    let mut start = 0;
    outside_quotes(text)
        .filter(move |&(_, c)| c == separator)
        .map(|(at, _)| at)
        .chain(std::iter::once(text.len()))
        .map(move |end| {
            let part = &text[start..end];
            start = end + separator.len_utf8();
            part
        })
}

/// The classic text format of an OpenMetrics exposition as prometheus_client
/// writes it. A counter's family is renamed to its samples' `_total` name,
/// an info metric becomes a gauge named like its `_info` sample and an
/// unknown one untyped; `# UNIT`, `# EOF` and exemplars, which the classic
/// format lacks, are dropped. (The library writes no `_created` samples.)
pub fn classic_text(open_metrics: &str) -> String {
    let mut text = String::with_capacity(open_metrics.len());
    // The library writes each family's HELP line just before its TYPE line,
    // and the name in both depends on the type.
    let mut help: Option<&str> = None;
    for line in open_metrics.lines() {
        if let Some(descriptor) = line.strip_prefix("# TYPE ") {
            let (name, kind) = descriptor.split_once(' ').unwrap_or((descriptor, ""));
            let (suffix, kind) = match kind {
                "counter" => ("_total", kind),
                "info" => ("_info", "gauge"),
                "unknown" => ("", "untyped"),
                _ => ("", kind),
            };
            if let Some(help) = help.take() {
                match help.strip_prefix(name).and_then(|h| h.strip_prefix(' ')) {
                    Some(words) => push_line(&mut text, &format!("# HELP {name}{suffix} {words}")),
                    None => push_line(&mut text, &format!("# HELP {help}")),
                }
            }
            push_line(&mut text, &format!("# TYPE {name}{suffix} {kind}"));
            continue;
        }
        if let Some(help) = help.take() {
            push_line(&mut text, &format!("# HELP {help}"));
        }
        if let Some(descriptor) = line.strip_prefix("# HELP ") {
            help = Some(descriptor);
        } else if line != "# EOF" && !line.starts_with("# UNIT ") {
            push_line(&mut text, without_exemplar(line));
        }
    }
    if let Some(help) = help {
        push_line(&mut text, &format!("# HELP {help}"));
    }
    text
}

fn push_line(text: &mut String, line: &str) {
    text.push_str(line);
    text.push('\n');
}

/// A sample line without its exemplar (` # {labels} value`). A label value
/// may hold ` # `, so the search starts where the sample's labels end.
fn without_exemplar(line: &str) -> &str {
    let labels_end = match line.find(['{', ' ']) {
        Some(open) if line[open..].starts_with('{') => {
            match outside_quotes(line).find(|&(at, c)| at > open && c == '}') {
                Some((close, _)) => close,
                None => return line,
            }
        }
        Some(space) => space,
        None => return line,
    };
    match line[labels_end..].find(" # ") {
        Some(at) => &line[..labels_end + at],
        None => line,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;
    use prometheus_client::encoding::text::encode;
    use prometheus_client::metrics::counter::Counter;
    use prometheus_client::metrics::exemplar::CounterWithExemplar;
    use prometheus_client::metrics::family::Family;
    use prometheus_client::metrics::gauge::Gauge;
    use prometheus_client::metrics::histogram::Histogram;
    use prometheus_client::metrics::info::Info;
    use prometheus_client::registry::{Registry, Unit};

    use super::*;
    use MetricsFormat::{OpenMetrics, Text};

    fn negotiated(accept: &[&str]) -> MetricsFormat {
        let mut headers = HeaderMap::new();
        for value in accept {
            headers.append(ACCEPT, HeaderValue::from_str(value).unwrap());
        }
        MetricsFormat::negotiate(&headers)
    }

    #[test]
    fn no_preference_keeps_openmetrics() {
        assert_eq!(negotiated(&[]), OpenMetrics);
        assert_eq!(negotiated(&["*/*"]), OpenMetrics);
        assert_eq!(negotiated(&[""]), OpenMetrics);
    }

    #[test]
    fn a_named_format_is_answered_in() {
        for accept in [
            "text/plain; version=0.0.4",
            "text/plain",
            "text/*",
            "TEXT/Plain;Version=0.0.4",
            r#"text/plain;version="0.0.4""#,
            "text/plain;version=0.0.4;charset=utf-8",
        ] {
            assert_eq!(negotiated(&[accept]), Text, "{accept}");
        }
        for accept in [
            "application/openmetrics-text",
            "application/openmetrics-text; version=1.0.0",
            "application/*",
        ] {
            assert_eq!(negotiated(&[accept]), OpenMetrics, "{accept}");
        }
    }

    #[test]
    fn q_values_rank_the_formats_and_a_tie_goes_to_openmetrics() {
        let cases = [
            ("application/openmetrics-text;q=0.5, text/plain;q=0.6", Text),
            ("application/openmetrics-text;q=0.6, text/plain;q=0.5", OpenMetrics),
            ("text/plain;q=0.5, application/openmetrics-text;q=0.5", OpenMetrics),
            ("text/plain;version=0.0.4;q=1.0, application/openmetrics-text;q=0.999", Text),
            ("application/openmetrics-text;q=0, */*", Text),
            ("text/plain;q=0, */*;q=0.1", OpenMetrics),
            // Prometheus 2's scrape header.
            (
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                OpenMetrics,
            ),
            // Prometheus 3's.
            (
                "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.3,text/plain;version=0.0.4;q=0.2,*/*;q=0.1",
                OpenMetrics,
            ),
            // A scraper that prefers the classic format.
            (
                "text/plain;version=0.0.4;q=0.5,application/openmetrics-text;version=1.0.0;q=0.4,*/*;q=0.1",
                Text,
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiated(&[accept]), want, "{accept}");
        }
    }

    #[test]
    fn the_most_specific_range_sets_a_formats_weight() {
        assert_eq!(
            negotiated(&["application/openmetrics-text;q=0.3, */*;q=0.9"]),
            Text
        );
        assert_eq!(
            negotiated(&["text/plain;q=0.3, text/*;q=0.9, application/*;q=0.5"]),
            OpenMetrics
        );
        assert_eq!(
            negotiated(&["text/plain;version=0.0.4;q=0.2, text/plain;q=1, application/openmetrics-text;q=0.5"]),
            OpenMetrics
        );
    }

    #[test]
    fn unknown_types_and_versions_accept_neither_format() {
        assert_eq!(
            negotiated(&["application/json"]),
            Text,
            "neither accepted: the fallback"
        );
        assert_eq!(negotiated(&["application/json, */*;q=0.1"]), OpenMetrics);
        assert_eq!(
            negotiated(&["application/openmetrics-text;version=0.0.1, text/plain;q=0.1"]),
            Text,
            "OpenMetrics 0.0.1 is not what is served"
        );
        assert_eq!(
            negotiated(&["text/plain;version=1.0.0, application/openmetrics-text;q=0.1"]),
            OpenMetrics
        );
        assert_eq!(
            negotiated(&["image/png;q=1, application/vnd.google.protobuf;q=0.9"]),
            Text
        );
    }

    #[test]
    fn malformed_ranges_are_ignored() {
        for malformed in [
            "text/plain;q=abc",
            "text/plain;q=1.5",
            "text/plain;q=2",
            "text/plain;q=0.1234",
            "text/plain;q=.5",
            "text/plain;q=",
            "text/plain;version",
            "text/plain;version=0.0.4 extra",
            r#"text/plain;version="0.0.4"#,
            "text/plain;q = 0.5",
            "text/",
            "/plain",
            "*/plain",
            "text plain",
            "text/plain/extra",
        ] {
            let accept = format!("application/openmetrics-text;q=0.1, {malformed}");
            assert_eq!(negotiated(&[&accept]), OpenMetrics, "{accept}");
            assert_eq!(
                negotiated(&[malformed]),
                OpenMetrics,
                "{malformed} alone says nothing"
            );
        }
        assert_eq!(negotiated(&["garbage, text/plain;q=0.1"]), Text);
        assert_eq!(
            negotiated(&[",,text/plain;;q=0.1,"]),
            Text,
            "empty elements and parameters are allowed"
        );
    }

    #[test]
    fn non_ascii_header_values_are_ignored() {
        let mut headers = HeaderMap::new();
        headers.append(
            ACCEPT,
            HeaderValue::from_bytes(b"text/plain;x=\xff").unwrap(),
        );
        assert_eq!(MetricsFormat::negotiate(&headers), OpenMetrics);
        headers.append(ACCEPT, HeaderValue::from_static("text/plain"));
        assert_eq!(MetricsFormat::negotiate(&headers), Text);
    }

    #[test]
    fn accept_headers_sent_more_than_once_are_one_list() {
        assert_eq!(
            negotiated(&["application/openmetrics-text;q=0.2", "text/plain;q=0.3"]),
            Text
        );
        assert_eq!(
            negotiated(&["text/plain;q=0.3", "application/openmetrics-text"]),
            OpenMetrics
        );
    }

    #[test]
    fn commas_and_semicolons_in_quoted_strings_separate_nothing() {
        assert_eq!(
            negotiated(&[
                r#"application/openmetrics-text;note="a,b;c\"d";q=0.9, text/plain;q=0.5"#
            ]),
            OpenMetrics
        );
    }

    #[test]
    fn qvalues_follow_the_grammar() {
        for (text, want) in [
            ("1", 1000),
            ("1.", 1000),
            ("1.000", 1000),
            ("0", 0),
            ("0.5", 500),
            ("0.05", 50),
            ("0.001", 1),
        ] {
            assert_eq!(qvalue(text), Some(want), "{text}");
        }
        for text in ["1.001", "2", "-0", ".5", "0.1234", "", "0.5a", "1e0", " 1"] {
            assert_eq!(qvalue(text), None, "{text}");
        }
    }

    fn open_metrics(registry: &Registry) -> String {
        let mut text = String::new();
        encode(&mut text, registry).unwrap();
        text
    }

    #[test]
    fn counters_are_named_like_their_samples_and_eof_goes() {
        let mut registry = Registry::with_prefix("sluice");
        let requests = Family::<Vec<(String, String)>, Counter>::default();
        registry.register("requests", "Requests", requests.clone());
        requests
            .get_or_create(&vec![("route".into(), r#"a"} # b"#.into())])
            .inc();
        let written = Counter::<u64>::default();
        registry.register("written", "Rows written", written.clone());
        let depth = Gauge::<i64>::default();
        registry.register("depth", "Queue depth", depth.clone());
        depth.set(3);
        let latency = Histogram::new([0.5]);
        registry.register("latency_seconds", "Latency", latency.clone());
        latency.observe(0.25);
        let text = open_metrics(&registry);
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert_eq!(
            classic_text(&text),
            concat!(
                "# HELP sluice_requests_total Requests.\n",
                "# TYPE sluice_requests_total counter\n",
                r#"sluice_requests_total{route="a\"} # b"} 1"#,
                "\n",
                "# HELP sluice_written_total Rows written.\n",
                "# TYPE sluice_written_total counter\n",
                "sluice_written_total 0\n",
                "# HELP sluice_depth Queue depth.\n",
                "# TYPE sluice_depth gauge\n",
                "sluice_depth 3\n",
                "# HELP sluice_latency_seconds Latency.\n",
                "# TYPE sluice_latency_seconds histogram\n",
                "sluice_latency_seconds_sum 0.25\n",
                "sluice_latency_seconds_count 1\n",
                "sluice_latency_seconds_bucket{le=\"0.5\"} 1\n",
                "sluice_latency_seconds_bucket{le=\"+Inf\"} 1\n",
            )
        );
    }

    #[test]
    fn units_infos_and_exemplars_have_no_classic_form() {
        let mut registry = Registry::default();
        let waited = CounterWithExemplar::<Vec<(String, String)>>::default();
        registry.register_with_unit("waited", "Time waited", Unit::Seconds, waited.clone());
        waited.inc_by(2, Some(vec![("trace".into(), "x # y".into())]), None);
        registry.register(
            "build",
            "Build",
            Info::new(vec![("version".to_string(), "1".to_string())]),
        );
        let text = open_metrics(&registry);
        assert!(text.contains("# UNIT waited_seconds seconds\n"), "{text}");
        assert!(
            text.contains(r#"waited_seconds_total 2 # {trace="x # y"} "#),
            "{text}"
        );
        assert_eq!(
            classic_text(&text),
            concat!(
                "# HELP waited_seconds_total Time waited.\n",
                "# TYPE waited_seconds_total counter\n",
                "waited_seconds_total 2\n",
                "# HELP build_info Build.\n",
                "# TYPE build_info gauge\n",
                "build_info{version=\"1\"} 1\n",
            )
        );
    }

    #[test]
    fn unknown_metrics_are_untyped() {
        assert_eq!(
            classic_text("# HELP jobs Jobs.\n# TYPE jobs unknown\njobs 4\n# EOF\n"),
            "# HELP jobs Jobs.\n# TYPE jobs untyped\njobs 4\n"
        );
    }
}
