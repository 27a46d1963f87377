//! A small hand-written chart builder for the HTML report: line and point
//! charts as inline SVG, with nice round ticks, axis titles, a legend, an
//! optional second y axis and an optional logarithmic x axis. No scripts,
//! no external resources.
//!
//! Non-finite values (NaN, ±inf) are skipped (a line breaks around them),
//! as are non-positive x values on a log axis; a chart with nothing left to
//! draw renders as a "no data" note instead of an empty frame.

use std::fmt::Write as _;

/// Readable, distinguishable series colours (Tableau 10).
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The `i`th palette colour, wrapping around.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Escapes text for HTML or SVG element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// How a point is marked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// No marker.
    None,
    /// A filled dot.
    Dot,
    /// A large hollow ring (to highlight a point drawn by another series).
    Ring,
}

/// One data point, optionally labelled on the chart.
#[derive(Clone, Debug)]
pub struct Point {
    /// X value.
    pub x: f64,
    /// Y value.
    pub y: f64,
    /// Text drawn beside the point.
    pub label: Option<String>,
}

/// One named series of points.
#[derive(Clone, Debug)]
pub struct Series {
    name: String,
    color: String,
    points: Vec<Point>,
    line: bool,
    dashed: bool,
    marker: Marker,
    right_axis: bool,
}

impl Series {
    /// A solid line through `points`.
    pub fn line(name: &str, color: &str, points: impl IntoIterator<Item = (f64, f64)>) -> Series {
        Series {
            name: name.to_string(),
            color: color.to_string(),
            points: points
                .into_iter()
                .map(|(x, y)| Point { x, y, label: None })
                .collect(),
            line: true,
            dashed: false,
            marker: Marker::None,
            right_axis: false,
        }
    }

    /// Unconnected dots, each with an optional label.
    pub fn points(name: &str, color: &str, points: Vec<Point>) -> Series {
        Series {
            name: name.to_string(),
            color: color.to_string(),
            points,
            line: false,
            dashed: false,
            marker: Marker::Dot,
            right_axis: false,
        }
    }

    /// Draws the line dashed.
    pub fn dashed(mut self) -> Series {
        self.dashed = true;
        self
    }

    /// Sets how points are marked.
    pub fn marker(mut self, marker: Marker) -> Series {
        self.marker = marker;
        self
    }

    /// Connects the points with a line.
    pub fn with_line(mut self) -> Series {
        self.line = true;
        self
    }

    /// Plots against the right-hand y axis.
    pub fn right(mut self) -> Series {
        self.right_axis = true;
        self
    }

    /// Points that can be drawn on an axis of the given x scale.
    fn drawable(&self, log_x: bool) -> impl Iterator<Item = &Point> {
        self.points
            .iter()
            .filter(move |p| drawable(p.x, p.y, log_x))
    }
}

fn drawable(x: f64, y: f64, log_x: bool) -> bool {
    x.is_finite() && y.is_finite() && (!log_x || x > 0.0)
}

/// A chart under construction; [`Chart::render`] turns it into HTML.
#[derive(Clone, Debug)]
pub struct Chart {
    title: String,
    x_title: String,
    y_title: String,
    y2_title: String,
    log_x: bool,
    x_from_zero: bool,
    y_range: Option<(f64, f64)>,
    y2_range: Option<(f64, f64)>,
    series: Vec<Series>,
    bands: Vec<(f64, f64, String)>,
    width: f64,
    height: f64,
}

/// Pixel width of one character of 12 px sans-serif, roughly.
const CHAR_W: f64 = 6.6;

impl Chart {
    /// An empty chart with a title.
    pub fn new(title: &str) -> Chart {
        Chart {
            title: title.to_string(),
            x_title: String::new(),
            y_title: String::new(),
            y2_title: String::new(),
            log_x: false,
            x_from_zero: false,
            y_range: None,
            y2_range: None,
            series: Vec::new(),
            bands: Vec::new(),
            width: 600.0,
            height: 330.0,
        }
    }

    /// Title of the x axis.
    pub fn x_title(mut self, t: &str) -> Chart {
        self.x_title = t.to_string();
        self
    }

    /// Title of the (left) y axis.
    pub fn y_title(mut self, t: &str) -> Chart {
        self.y_title = t.to_string();
        self
    }

    /// Title of the right-hand y axis (used by [`Series::right`] series).
    pub fn y2_title(mut self, t: &str) -> Chart {
        self.y2_title = t.to_string();
        self
    }

    /// A logarithmic x axis (points with x ≤ 0 are skipped).
    pub fn log_x(mut self) -> Chart {
        self.log_x = true;
        self
    }

    /// Starts the (linear) x axis at zero.
    pub fn x_from_zero(mut self) -> Chart {
        self.x_from_zero = true;
        self
    }

    /// A fixed left y range instead of one fitted to the data (which starts at zero).
    pub fn y_range(mut self, lo: f64, hi: f64) -> Chart {
        self.y_range = Some((lo, hi));
        self
    }

    /// A fixed right y range.
    pub fn y2_range(mut self, lo: f64, hi: f64) -> Chart {
        self.y2_range = Some((lo, hi));
        self
    }

    /// Adds a series.
    pub fn series(mut self, s: Series) -> Chart {
        self.series.push(s);
        self
    }

    /// Shades the x interval `[from, to]` with a caption (e.g. warm-up).
    pub fn band(mut self, from: f64, to: f64, caption: &str) -> Chart {
        if from.is_finite() && to.is_finite() && to > from {
            self.bands.push((from, to, caption.to_string()));
        }
        self
    }

    /// Whether any series has a point that can be drawn.
    pub fn has_data(&self) -> bool {
        self.series
            .iter()
            .any(|s| s.drawable(self.log_x).next().is_some())
    }

    /// The chart as HTML: a `<figure>` holding one `<svg>`, or a "no data"
    /// note when there is nothing to draw.
    pub fn render(&self) -> String {
        if !self.has_data() {
            return format!(
                "<figure class=\"chart nodata\"><figcaption>{}</figcaption><p>no data</p></figure>\n",
                escape(&self.title)
            );
        }
        let (w, h) = (self.width, self.height);
        let has_right = self
            .series
            .iter()
            .any(|s| s.right_axis && s.drawable(self.log_x).next().is_some());

        // Legend rows, laid out left to right and wrapped.
        let legend = self.legend_layout(w - 20.0);
        let legend_rows = legend.iter().map(|l| l.row + 1).max().unwrap_or(0);
        let top = 30.0 + 18.0 * legend_rows as f64 + 8.0;
        let left = 64.0;
        let right = if has_right { 64.0 } else { 20.0 };
        let bottom = 48.0;
        let plot = Rect {
            x: left,
            y: top,
            w: w - left - right,
            h: (h - top - bottom).max(40.0),
        };

        // Axes.
        let xs = self.values(|_| true, |p| p.x);
        let x_axis = if self.log_x {
            Axis::log(&xs)
        } else {
            Axis::linear(&xs, self.x_from_zero, None)
        };
        let y_axis = Axis::linear(&self.values(|s| !s.right_axis, |p| p.y), true, self.y_range);
        let y2_axis = Axis::linear(&self.values(|s| s.right_axis, |p| p.y), true, self.y2_range);

        let mut o = String::new();
        let _ = write!(
            o,
            "<figure class=\"chart\"><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" role=\"img\" font-family=\"sans-serif\" font-size=\"12\">\n<title>{t}</title>\n<rect width=\"{w}\" height=\"{h}\" fill=\"#fff\"/>\n<text x=\"{cx}\" y=\"20\" text-anchor=\"middle\" font-size=\"15\" font-weight=\"bold\" fill=\"#222\">{t}</text>\n",
            t = escape(&self.title),
            cx = w / 2.0,
        );

        // Shaded bands, under everything else.
        for (from, to, caption) in &self.bands {
            let (a, b) = (
                x_axis.to_px(*from, plot.x, plot.w, false),
                x_axis.to_px(*to, plot.x, plot.w, false),
            );
            let (a, b) = (a.clamp(plot.x, plot.right()), b.clamp(plot.x, plot.right()));
            if b > a {
                let _ = writeln!(
                    o,
                    "<rect x=\"{a:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"#eee\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" fill=\"#777\">{}</text>",
                    plot.y,
                    b - a,
                    plot.h,
                    a + 4.0,
                    plot.y + 13.0,
                    escape(caption)
                );
            }
        }

        // Grid and tick labels.
        for &v in &y_axis.ticks {
            let py = y_axis.to_px(v, plot.y, plot.h, true);
            let _ = writeln!(
                o,
                "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#e3e3e3\"/><text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" fill=\"#444\">{}</text>",
                plot.x,
                plot.right(),
                plot.x - 6.0,
                py + 4.0,
                escape(&y_axis.label(v))
            );
        }
        if has_right {
            for &v in &y2_axis.ticks {
                let py = y2_axis.to_px(v, plot.y, plot.h, true);
                let _ = writeln!(
                    o,
                    "<line x1=\"{:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#444\"/><text x=\"{:.1}\" y=\"{:.1}\" fill=\"#444\">{}</text>",
                    plot.right(),
                    plot.right() + 4.0,
                    plot.right() + 7.0,
                    py + 4.0,
                    escape(&y2_axis.label(v))
                );
            }
        }
        for &v in &x_axis.ticks {
            let px = x_axis.to_px(v, plot.x, plot.w, false);
            let _ = writeln!(
                o,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#e3e3e3\"/><line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#444\"/><text x=\"{px:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#444\">{}</text>",
                plot.y,
                plot.bottom(),
                plot.bottom(),
                plot.bottom() + 4.0,
                plot.bottom() + 17.0,
                escape(&x_axis.label(v))
            );
        }
        // Frame and axis titles.
        let _ = writeln!(
            o,
            "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"#444\"/>",
            plot.x, plot.y, plot.w, plot.h
        );
        let _ = writeln!(
            o,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" fill=\"#222\">{}</text>",
            plot.x + plot.w / 2.0,
            h - 10.0,
            escape(&self.x_title)
        );
        let cy = plot.y + plot.h / 2.0;
        let _ = writeln!(
            o,
            "<text transform=\"translate(16 {cy:.1}) rotate(-90)\" text-anchor=\"middle\" fill=\"#222\">{}</text>",
            escape(&self.y_title)
        );
        if has_right {
            let _ = writeln!(
                o,
                "<text transform=\"translate({:.1} {cy:.1}) rotate(90)\" text-anchor=\"middle\" fill=\"#222\">{}</text>",
                w - 14.0,
                escape(&self.y2_title)
            );
        }

        // Series: lines first, then markers and labels on top.
        for s in &self.series {
            if s.right_axis && !has_right || !s.line {
                continue;
            }
            let ya = if s.right_axis { &y2_axis } else { &y_axis };
            let dash = if s.dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            for seg in segments(&s.points, self.log_x) {
                let pts: Vec<String> = seg
                    .iter()
                    .map(|p| {
                        format!(
                            "{:.1},{:.1}",
                            x_axis.to_px(p.x, plot.x, plot.w, false),
                            ya.to_px(p.y, plot.y, plot.h, true)
                        )
                    })
                    .collect();
                let _ = writeln!(
                    o,
                    "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-linejoin=\"round\"{dash}/>",
                    pts.join(" "),
                    escape(&s.color)
                );
            }
        }
        for s in &self.series {
            if s.right_axis && !has_right {
                continue;
            }
            let ya = if s.right_axis { &y2_axis } else { &y_axis };
            for p in s.drawable(self.log_x) {
                let px = x_axis.to_px(p.x, plot.x, plot.w, false);
                let py = ya.to_px(p.y, plot.y, plot.h, true);
                let c = escape(&s.color);
                match s.marker {
                    Marker::None => {}
                    Marker::Dot => {
                        let _ = writeln!(
                            o,
                            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"4\" fill=\"{c}\" stroke=\"#fff\"/>"
                        );
                    }
                    Marker::Ring => {
                        let _ = writeln!(
                            o,
                            "<circle cx=\"{px:.1}\" cy=\"{py:.1}\" r=\"9\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2.5\"/>"
                        );
                    }
                }
                if let Some(label) = &p.label {
                    // Above and to the left of the point (clear of a rising
                    // curve), except near the left edge.
                    let (dx, anchor) = if px < plot.x + 40.0 {
                        (8.0, "start")
                    } else {
                        (-8.0, "end")
                    };
                    let dy = if s.marker == Marker::Ring { 20.0 } else { -8.0 };
                    let _ = writeln!(
                        o,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"{anchor}\" font-size=\"11\" fill=\"#222\">{}</text>",
                        px + dx,
                        py + dy,
                        escape(label)
                    );
                }
            }
        }

        // Legend.
        for (item, s) in legend.iter().zip(&self.series) {
            let lx = 10.0 + item.x;
            let ly = 30.0 + 18.0 * item.row as f64 + 6.0;
            let c = escape(&s.color);
            if s.line {
                let dash = if s.dashed {
                    " stroke-dasharray=\"6 4\""
                } else {
                    ""
                };
                let _ = write!(
                    o,
                    "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{c}\" stroke-width=\"2\"{dash}/>",
                    lx + 20.0
                );
            }
            match s.marker {
                Marker::None => {}
                Marker::Dot => {
                    let _ = write!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{ly:.1}\" r=\"4\" fill=\"{c}\"/>",
                        lx + 10.0
                    );
                }
                Marker::Ring => {
                    let _ = write!(
                        o,
                        "<circle cx=\"{:.1}\" cy=\"{ly:.1}\" r=\"6\" fill=\"none\" stroke=\"{c}\" stroke-width=\"2\"/>",
                        lx + 10.0
                    );
                }
            }
            let _ = writeln!(
                o,
                "<text x=\"{:.1}\" y=\"{:.1}\" fill=\"#222\">{}</text>",
                lx + 26.0,
                ly + 4.0,
                escape(&s.name)
            );
        }
        o.push_str("</svg></figure>\n");
        o
    }

    /// All drawable values of the series that `keep` selects.
    fn values(&self, keep: impl Fn(&Series) -> bool, get: impl Fn(&Point) -> f64) -> Vec<f64> {
        self.series
            .iter()
            .filter(|s| keep(s))
            .flat_map(|s| s.drawable(self.log_x).map(&get))
            .collect()
    }

    fn legend_layout(&self, width: f64) -> Vec<LegendItem> {
        let mut items = Vec::new();
        let (mut x, mut row) = (0.0, 0);
        for s in &self.series {
            let item_w = 26.0 + CHAR_W * s.name.chars().count() as f64 + 16.0;
            if x > 0.0 && x + item_w > width {
                x = 0.0;
                row += 1;
            }
            items.push(LegendItem { x, row });
            x += item_w;
        }
        items
    }
}

struct LegendItem {
    x: f64,
    row: usize,
}

struct Rect {
    x: f64,
    y: f64,
    w: f64,
    h: f64,
}

impl Rect {
    fn right(&self) -> f64 {
        self.x + self.w
    }
    fn bottom(&self) -> f64 {
        self.y + self.h
    }
}

/// Runs of consecutive drawable points: a line breaks around a skipped one.
fn segments(points: &[Point], log_x: bool) -> Vec<Vec<&Point>> {
    let mut out: Vec<Vec<&Point>> = vec![Vec::new()];
    for p in points {
        if drawable(p.x, p.y, log_x) {
            if let Some(seg) = out.last_mut() {
                seg.push(p);
            }
        } else if out.last().is_some_and(|seg| !seg.is_empty()) {
            out.push(Vec::new());
        }
    }
    out.retain(|seg| !seg.is_empty());
    out
}

/// One axis: its range, its ticks and how to label them.
#[derive(Debug)]
struct Axis {
    lo: f64,
    hi: f64,
    log: bool,
    /// Tick spacing (linear axes), used to choose decimals.
    step: f64,
    ticks: Vec<f64>,
}

impl Axis {
    /// A linear axis covering `values` (and zero, if `from_zero`) with
    /// nice round ticks; `fixed` overrides the range.
    fn linear(values: &[f64], from_zero: bool, fixed: Option<(f64, f64)>) -> Axis {
        let (mut lo, mut hi) = match fixed {
            Some((lo, hi)) if lo.is_finite() && hi.is_finite() && hi > lo => (lo, hi),
            _ => {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                if !lo.is_finite() || !hi.is_finite() {
                    (0.0, 1.0)
                } else if from_zero {
                    (lo.min(0.0), hi.max(0.0))
                } else {
                    (lo, hi)
                }
            }
        };
        if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
            // A single value: give it room.
            let pad = if lo == 0.0 { 1.0 } else { lo.abs() * 0.1 };
            if from_zero && lo >= 0.0 {
                lo = 0.0;
                hi += if hi == 0.0 { 1.0 } else { pad };
            } else {
                lo -= pad;
                hi += pad;
            }
        }
        let step = nice_step((hi - lo) / 5.0);
        let (nlo, nhi) = if fixed.is_some() {
            (lo, hi)
        } else {
            ((lo / step).floor() * step, (hi / step).ceil() * step)
        };
        let n = ((nhi - nlo) / step).round() as i64;
        let first = (nlo / step).ceil() as i64;
        let ticks = (0..=n)
            .map(|i| (first + i) as f64 * step)
            .filter(|v| *v >= nlo - step * 1e-9 && *v <= nhi + step * 1e-9)
            .collect();
        Axis {
            lo: nlo,
            hi: nhi,
            log: false,
            step,
            ticks,
        }
    }

    /// A log10 axis over the positive `values`, from one power of ten to
    /// another; ticks at powers of ten, plus 2 and 5 times them when the
    /// range is at most two decades.
    fn log(values: &[f64]) -> Axis {
        let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let (mut dlo, mut dhi) = if lo.is_finite() && hi.is_finite() && lo > 0.0 {
            (lo.log10().floor(), hi.log10().ceil())
        } else {
            (0.0, 1.0)
        };
        if dhi <= dlo {
            dhi = dlo + 1.0;
        }
        // Very wide ranges: keep the tick count readable.
        if dhi - dlo > 12.0 {
            dlo = dhi - 12.0;
        }
        let mut ticks = Vec::new();
        let dense = dhi - dlo <= 2.0;
        let mut d = dlo;
        while d <= dhi {
            let base = 10f64.powf(d);
            ticks.push(base);
            if dense && d < dhi {
                ticks.push(2.0 * base);
                ticks.push(5.0 * base);
            }
            d += 1.0;
        }
        Axis {
            lo: 10f64.powf(dlo),
            hi: 10f64.powf(dhi),
            log: true,
            step: 0.0,
            ticks,
        }
    }

    /// Pixel position of `v` along an axis starting at `origin` with `len` pixels.
    fn to_px(&self, v: f64, origin: f64, len: f64, flip: bool) -> f64 {
        let f = if self.log {
            (v.max(f64::MIN_POSITIVE).log10() - self.lo.log10())
                / (self.hi.log10() - self.lo.log10())
        } else {
            (v - self.lo) / (self.hi - self.lo)
        };
        let f = if f.is_finite() { f } else { 0.0 };
        if flip {
            origin + len * (1.0 - f)
        } else {
            origin + len * f
        }
    }

    fn label(&self, v: f64) -> String {
        if self.log {
            tick_label(v, v)
        } else {
            tick_label(v, self.step)
        }
    }
}

/// The smallest 1, 2 or 5 × 10ⁿ not below `raw`.
pub fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let norm = raw / mag;
    let f = if norm <= 1.0 {
        1.0
    } else if norm <= 2.0 {
        2.0
    } else if norm <= 5.0 {
        5.0
    } else {
        10.0
    };
    f * mag
}

/// A tick label for `v` on an axis with tick spacing `step`: just enough
/// decimals, thousands as `k` and millions as `M`.
pub fn tick_label(v: f64, step: f64) -> String {
    if v == 0.0 {
        return "0".to_string();
    }
    let (scaled, sscaled, suffix) = if v.abs() >= 1e6 && step >= 1e5 {
        (v / 1e6, step / 1e6, "M")
    } else if v.abs() >= 1e4 && step >= 1e3 {
        (v / 1e3, step / 1e3, "k")
    } else {
        (v, step, "")
    };
    let decimals = if sscaled >= 1.0 || sscaled <= 0.0 {
        0
    } else {
        (-sscaled.log10().floor()).clamp(0.0, 6.0) as usize
    };
    format!("{scaled:.decimals$}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_steps_are_one_two_five() {
        assert_eq!(nice_step(0.7), 1.0);
        assert_eq!(nice_step(1.3), 2.0);
        assert_eq!(nice_step(3.0), 5.0);
        assert_eq!(nice_step(7.0), 10.0);
        assert_eq!(nice_step(230.0), 500.0);
        assert!((nice_step(0.013) - 0.02).abs() < 1e-12);
        assert_eq!(nice_step(f64::NAN), 1.0);
    }

    #[test]
    fn linear_axis_has_round_ticks_covering_the_data() {
        let a = Axis::linear(&[3.0, 97.0], true, None);
        assert_eq!(a.lo, 0.0);
        assert_eq!(a.hi, 100.0);
        assert_eq!(a.ticks, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        let labels: Vec<String> = a.ticks.iter().map(|&v| a.label(v)).collect();
        assert_eq!(labels, ["0", "20", "40", "60", "80", "100"]);

        let a = Axis::linear(&[0.12, 0.31], false, None);
        assert!(a.lo <= 0.12 && a.hi >= 0.31);
        assert_eq!(a.label(0.15), "0.15");

        let a = Axis::linear(&[0.0, 48_000.0], true, None);
        assert_eq!(a.label(40_000.0), "40k");
    }

    #[test]
    fn single_value_and_zero_ranges_get_room() {
        let a = Axis::linear(&[5.0], true, None);
        assert!(a.lo == 0.0 && a.hi >= 5.0, "{a:?}");
        let a = Axis::linear(&[0.0, 0.0], true, None);
        assert!(a.hi > a.lo, "{a:?}");
        let a = Axis::linear(&[42.0], false, None);
        assert!(a.lo < 42.0 && a.hi > 42.0, "{a:?}");
        let a = Axis::log(&[7.0]);
        assert_eq!((a.lo, a.hi), (1.0, 10.0));
        assert_eq!(a.ticks, vec![1.0, 2.0, 5.0, 10.0]);
        let a = Axis::log(&[0.5, 20_000.0]);
        let labels: Vec<String> = a.ticks.iter().map(|&v| a.label(v)).collect();
        assert_eq!(labels, ["0.1", "1", "10", "100", "1000", "10k", "100k"]);
    }

    #[test]
    fn non_finite_points_are_skipped_and_break_the_line() {
        let chart = Chart::new("t").series(Series::line(
            "s",
            color(0),
            [
                (1.0, 1.0),
                (2.0, f64::NAN),
                (3.0, 2.0),
                (4.0, 3.0),
                (f64::INFINITY, 1.0),
            ],
        ));
        let svg = chart.render();
        assert_eq!(svg.matches("<polyline").count(), 2, "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");

        let empty = Chart::new("e").series(Series::line("s", color(0), [(f64::NAN, 1.0)]));
        assert!(!empty.has_data());
        assert!(empty.render().contains("no data"));

        // Log axis: zero and negative x are skipped.
        let log =
            Chart::new("l")
                .log_x()
                .series(Series::line("s", color(0), [(0.0, 1.0), (-1.0, 2.0)]));
        assert!(log.render().contains("no data"));
    }

    #[test]
    fn single_point_renders() {
        let svg = Chart::new("one")
            .series(Series::points(
                "p",
                color(1),
                vec![Point {
                    x: 10.0,
                    y: 0.0,
                    label: Some("a<b".into()),
                }],
            ))
            .render();
        assert!(svg.contains("<circle"), "{svg}");
        assert!(svg.contains("a&lt;b"), "{svg}");
        assert!(!svg.contains("NaN"), "{svg}");
    }
}
