//! The HTML report's charts: line and point charts laid out and drawn by
//! plotters' SVG backend (axes, ticks, grid, axis titles, an optional second
//! y axis and a logarithmic x axis are the library's), wrapped in a
//! `<figure>` with an HTML caption and legend.
//!
//! What this module adds to the library, and why:
//! - **Axis ranges from the data.** Each axis spans exactly the drawn
//!   values' minimum to maximum (from zero where [`Chart::x_from_zero`] or a
//!   y axis says so, or a fixed range such as 0-100%), so a reader can trust
//!   that nothing is cut off and nothing is padded. A single value gets room
//!   around it ([`fit_range`]).
//! - **Machine-readable figures.** The `<figure>` carries `data-series` (how
//!   many series are drawn), `data-x-min` / `data-x-max` / `data-x-scale`,
//!   `data-y-min` / `data-y-max` (and `data-y2-*` for a right axis) and
//!   `data-plot` (the plot area's pixel box: left right top bottom), and
//!   every element a series draws carries `data-series-index`. The browser
//!   test (`tests/e2e/load_html.rs`) checks them against the report's own
//!   numbers, so a dropped series or a mis-scaled axis fails it.
//!   plotters' SVG backend cannot put attributes on an element, so each
//!   series is drawn in a placeholder colour (`#FE` + its index as four hex
//!   digits) that [`tag_series`] replaces with the real colour, the index
//!   and the dash pattern.
//! - Non-finite values (NaN, ±inf) are skipped and a line breaks around
//!   them, as are non-positive x values on a log axis; a chart with nothing
//!   left to draw renders as a "no data" note instead of an empty frame.

use std::fmt::Write as _;
use std::ops::Range;

use plotters::coord::ranged1d::{AsRangedCoord, ValueFormatter};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use crate::html::escape;

/// Readable, distinguishable series colours (Tableau 10).
pub const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// The `i`th palette colour, wrapping around.
pub fn color(i: usize) -> &'static str {
    PALETTE[i % PALETTE.len()]
}

/// Pixel size of a chart's SVG.
const WIDTH: u32 = 600;
const HEIGHT: u32 = 310;
/// plotters writes `font-size` as the requested size / 1.24: 15 gives 12 px.
const FONT: (&str, f64) = ("sans-serif", 15.0);
const SMALL_FONT: (&str, f64) = ("sans-serif", 13.5);
/// The placeholder colours' first byte (no palette colour starts with it).
const PLACEHOLDER_RED: u8 = 0xFE;

/// A chart that could not be drawn: plotters' own error, as text.
#[derive(Debug, thiserror::Error)]
#[error("drawing the chart failed: {0}")]
pub struct ChartError(String);

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

    /// Points that can be drawn on an x axis of the given scale.
    fn drawable(&self, log_x: bool) -> impl Iterator<Item = &Point> {
        self.points
            .iter()
            .filter(move |p| drawable(p.x, p.y, log_x))
    }

    /// Runs of consecutive drawable points: a line breaks around a skipped one.
    fn segments(&self, log_x: bool) -> Vec<Vec<(f64, f64)>> {
        let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
        for p in &self.points {
            if drawable(p.x, p.y, log_x) {
                if let Some(seg) = out.last_mut() {
                    seg.push((p.x, p.y));
                }
            } else if out.last().is_some_and(|seg| !seg.is_empty()) {
                out.push(Vec::new());
            }
        }
        out.retain(|seg| !seg.is_empty());
        out
    }

    /// The CSS of the legend key: the line's colour and dash.
    fn key_style(&self) -> String {
        let c = escape(&self.color);
        match (self.line, self.marker) {
            (true, _) if self.dashed => format!("border-top:2px dashed {c}"),
            (true, _) => format!("border-top:2px solid {c}"),
            (false, Marker::Ring) => format!("border:2px solid {c};border-radius:50%"),
            (false, _) => format!("background:{c};border-radius:50%"),
        }
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
}

/// The ranges a chart's axes span, as drawn.
#[derive(Clone, Debug, PartialEq)]
pub struct Axes {
    /// The x axis (log scale where the chart says so).
    pub x: (f64, f64),
    /// The left y axis.
    pub y: (f64, f64),
    /// The right y axis, when a drawn series uses it.
    pub y2: Option<(f64, f64)>,
}

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
        self.drawn_series().next().is_some()
    }

    /// The series with at least one drawable point, in order: the ones the
    /// chart draws and its legend lists.
    fn drawn_series(&self) -> impl Iterator<Item = &Series> {
        self.series
            .iter()
            .filter(|s| s.drawable(self.log_x).next().is_some())
    }

    /// The ranges the axes span: each fitted to its drawn values by
    /// [`fit_range`] (y axes from zero), or the fixed range asked for.
    pub fn axes(&self) -> Axes {
        let values = |right: Option<bool>, get: fn(&Point) -> f64| -> Vec<f64> {
            self.drawn_series()
                .filter(|s| right.is_none_or(|r| s.right_axis == r))
                .flat_map(|s| s.drawable(self.log_x).map(get))
                .collect()
        };
        let x = fit_range(&values(None, |p| p.x), self.x_from_zero, self.log_x);
        let y = self
            .y_range
            .unwrap_or_else(|| fit_range(&values(Some(false), |p| p.y), true, false));
        let right = values(Some(true), |p| p.y);
        let y2 = (!right.is_empty()).then(|| {
            self.y2_range
                .unwrap_or_else(|| fit_range(&right, true, false))
        });
        Axes { x, y, y2 }
    }

    /// The chart as HTML: a `<figure>` holding a caption, one `<svg>` and a
    /// legend, or a "no data" note when there is nothing to draw (or a note
    /// saying why it could not be drawn).
    pub fn render(&self) -> String {
        if !self.has_data() {
            return format!(
                "<figure class=\"chart nodata\" data-series=\"0\"><figcaption>{}</figcaption><p>no data</p></figure>\n",
                escape(&self.title)
            );
        }
        match self.try_render() {
            Ok(html) => html,
            Err(e) => format!(
                "<figure class=\"chart nodata\" data-series=\"0\"><figcaption>{}</figcaption><p>{}</p></figure>\n",
                escape(&self.title),
                escape(&e.to_string())
            ),
        }
    }

    fn try_render(&self) -> Result<String, ChartError> {
        let axes = self.axes();
        let mut svg = String::new();
        let plot = if self.log_x {
            self.draw((axes.x.0..axes.x.1).log_scale(), &axes, &mut svg)?
        } else {
            self.draw(axes.x.0..axes.x.1, &axes, &mut svg)?
        };
        let svg = tag_series(&svg, &self.drawn_series().collect::<Vec<_>>());

        let mut o = String::new();
        let _ = write!(
            o,
            "<figure class=\"chart\" data-series=\"{n}\" data-x-scale=\"{scale}\" data-x-min=\"{x0}\" data-x-max=\"{x1}\" data-y-min=\"{y0}\" data-y-max=\"{y1}\"",
            n = self.drawn_series().count(),
            scale = if self.log_x { "log" } else { "linear" },
            x0 = axes.x.0,
            x1 = axes.x.1,
            y0 = axes.y.0,
            y1 = axes.y.1,
        );
        if let Some((lo, hi)) = axes.y2 {
            let _ = write!(o, " data-y2-min=\"{lo}\" data-y2-max=\"{hi}\"");
        }
        let _ = write!(
            o,
            " data-plot=\"{} {} {} {}\"><figcaption>{}</figcaption>\n{svg}<ul class=\"legend\">",
            plot.0.start,
            plot.0.end,
            plot.1.start,
            plot.1.end,
            escape(&self.title),
        );
        for (i, s) in self.drawn_series().enumerate() {
            let _ = write!(
                o,
                "<li data-series-index=\"{i}\" data-points=\"{points}\" data-axis=\"{axis}\"><span class=\"key\" style=\"{key}\"></span>{name}</li>",
                points = s.drawable(self.log_x).count(),
                axis = if s.right_axis { "right" } else { "left" },
                key = s.key_style(),
                name = escape(&s.name),
            );
        }
        o.push_str("</ul></figure>\n");
        Ok(o)
    }

    /// Draws the chart with plotters into `svg`, the x axis given by
    /// `x_spec` (linear or log); returns the plot area's pixel ranges.
    fn draw<X>(
        &self,
        x_spec: X,
        axes: &Axes,
        svg: &mut String,
    ) -> Result<(Range<i32>, Range<i32>), ChartError>
    where
        X: AsRangedCoord<Value = f64> + Clone,
        X::CoordDescType: ValueFormatter<f64>,
    {
        let err = |e: &dyn std::fmt::Display| ChartError(e.to_string());
        let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let has_right = axes.y2.is_some();
        let mut builder = ChartBuilder::on(&root);
        builder
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(64)
            .right_y_label_area_size(if has_right { 64 } else { 0 });
        let y2 = axes.y2.unwrap_or((0.0, 1.0));
        let mut chart = builder
            .build_cartesian_2d(x_spec.clone(), axes.y.0..axes.y.1)
            .map_err(|e| err(&e))?
            .set_secondary_coord(x_spec, y2.0..y2.1);

        // Shaded bands under the grid, clamped to the x axis.
        let grey = RGBColor(0xEE, 0xEE, 0xEE);
        for (from, to, caption) in &self.bands {
            let (a, b) = (from.max(axes.x.0), to.min(axes.x.1));
            if b > a {
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(a, axes.y.0), (b, axes.y.1)],
                        grey.filled(),
                    )))
                    .map_err(|e| err(&e))?;
                chart
                    .draw_series(std::iter::once(Text::new(
                        caption.clone(),
                        (a, axes.y.1),
                        SMALL_FONT.into_font().color(&RGBColor(0x77, 0x77, 0x77)),
                    )))
                    .map_err(|e| err(&e))?;
            }
        }

        let grid = RGBColor(0xE3, 0xE3, 0xE3);
        let ink = RGBColor(0x44, 0x44, 0x44);
        chart
            .configure_mesh()
            .x_desc(self.x_title.as_str())
            .y_desc(self.y_title.as_str())
            .x_labels(8)
            .y_labels(6)
            .x_label_formatter(&|v| tick_label(*v))
            .y_label_formatter(&|v| tick_label(*v))
            .bold_line_style(grid)
            .light_line_style(TRANSPARENT)
            .axis_style(ink)
            .label_style(FONT.into_font().color(&ink))
            .axis_desc_style(FONT.into_font().color(&RGBColor(0x22, 0x22, 0x22)))
            .draw()
            .map_err(|e| err(&e))?;
        if has_right {
            chart
                .configure_secondary_axes()
                .y_desc(self.y2_title.as_str())
                .y_labels(6)
                .y_label_formatter(&|v| tick_label(*v))
                .axis_style(ink)
                .label_style(FONT.into_font().color(&ink))
                .axis_desc_style(FONT.into_font().color(&RGBColor(0x22, 0x22, 0x22)))
                .draw()
                .map_err(|e| err(&e))?;
        }

        // Series in the placeholder colour of their index: lines first, then
        // markers and point labels on top.
        let series: Vec<&Series> = self.drawn_series().collect();
        for (i, s) in series.iter().enumerate() {
            if !s.line {
                continue;
            }
            let style = placeholder(i).stroke_width(2);
            for seg in s.segments(self.log_x) {
                if s.right_axis {
                    chart.draw_secondary_series(LineSeries::new(seg, style))
                } else {
                    chart.draw_series(LineSeries::new(seg, style))
                }
                .map_err(|e| err(&e))?;
            }
        }
        for (i, s) in series.iter().enumerate() {
            let style = match s.marker {
                Marker::None => None,
                Marker::Dot => Some((4, placeholder(i).filled())),
                Marker::Ring => Some((9, placeholder(i).stroke_width(2))),
            };
            let points: Vec<(f64, f64)> = s.drawable(self.log_x).map(|p| (p.x, p.y)).collect();
            if let Some((radius, style)) = style {
                let circles = points.iter().map(|&p| Circle::new(p, radius, style));
                if s.right_axis {
                    chart.draw_secondary_series(circles)
                } else {
                    chart.draw_series(circles)
                }
                .map_err(|e| err(&e))?;
            }
            // Labels to the left of the point (clear of a rising curve and
            // of the plot's top edge), below it for a ring.
            let (dx, dy) = if s.marker == Marker::Ring {
                (-10, 14)
            } else {
                (-8, 0)
            };
            let labels = s.drawable(self.log_x).filter_map(|p| {
                let label = p.label.as_ref()?;
                let font = SMALL_FONT
                    .into_font()
                    .color(&RGBColor(0x22, 0x22, 0x22))
                    .pos(Pos::new(HPos::Right, VPos::Center));
                Some(EmptyElement::at((p.x, p.y)) + Text::new(label.clone(), (dx, dy), font))
            });
            if s.right_axis {
                chart.draw_secondary_series(labels)
            } else {
                chart.draw_series(labels)
            }
            .map_err(|e| err(&e))?;
        }
        let plot = chart.plotting_area().get_pixel_range();
        root.present().map_err(|e| err(&e))?;
        Ok(plot)
    }
}

/// The placeholder colour of series `i` (see the module doc).
fn placeholder(i: usize) -> RGBColor {
    let i = u16::try_from(i).unwrap_or(u16::MAX);
    RGBColor(PLACEHOLDER_RED, (i >> 8) as u8, (i & 0xFF) as u8)
}

/// Replaces each series' placeholder colour in plotters' SVG with its real
/// colour, and marks its elements with `data-series-index` (and a dashed
/// line's dash pattern). plotters writes one element per line.
fn tag_series(svg: &str, series: &[&Series]) -> String {
    let mut out = String::with_capacity(svg.len() + svg.len() / 8);
    for line in svg.lines() {
        let Some(at) = line.find(&format!("\"#{PLACEHOLDER_RED:02X}")) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let hex = line.get(at + 4..at + 8).unwrap_or_default();
        let index = usize::from_str_radix(hex, 16).unwrap_or(usize::MAX);
        let Some(s) = series.get(index) else {
            out.push_str(line);
            out.push('\n');
            continue;
        };
        let placeholder = format!("\"#{PLACEHOLDER_RED:02X}{hex}\"");
        let line = line.replace(&placeholder, &format!("\"{}\"", escape(&s.color)));
        let dash = if s.dashed && line.starts_with("<polyline") {
            " stroke-dasharray=\"6 4\""
        } else {
            ""
        };
        let (tag, rest) = line.split_once(' ').unwrap_or((&line, ""));
        let _ = writeln!(out, "{tag} data-series-index=\"{index}\"{dash} {rest}");
    }
    out
}

/// The range an axis spans for `values`: their minimum to their maximum
/// (from zero, if `from_zero` and they are all positive, or to zero if all
/// negative). A single value gets room: ±10% (±1 at zero) on a linear
/// axis, half to double on a log axis. No values: 0 to 1 (1 to 10 on a log
/// axis).
pub fn fit_range(values: &[f64], from_zero: bool, log: bool) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !lo.is_finite() || !hi.is_finite() {
        return if log { (1.0, 10.0) } else { (0.0, 1.0) };
    }
    let (lo, hi) = if from_zero && !log {
        (lo.min(0.0), hi.max(0.0))
    } else {
        (lo, hi)
    };
    if hi > lo {
        return (lo, hi);
    }
    if log {
        (lo / 2.0, hi * 2.0)
    } else if lo == 0.0 {
        (if from_zero { 0.0 } else { -1.0 }, 1.0)
    } else {
        let pad = lo.abs() * 0.1;
        (lo - pad, hi + pad)
    }
}

/// A tick label: at most four significant digits, no trailing zeros,
/// thousands as `k` and millions as `M` from ten thousand on.
pub fn tick_label(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return "0".to_string();
    }
    let (scaled, suffix) = if v.abs() >= 1e6 {
        (v / 1e6, "M")
    } else if v.abs() >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let decimals = (3 - scaled.abs().log10().floor() as i32).clamp(0, 8) as usize;
    let s = format!("{scaled:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    format!("{s}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use plotters::coord::ranged1d::Ranged;
    use plotters::coord::types::RangedCoordf64;

    #[test]
    fn ranges_span_the_data_exactly() {
        assert_eq!(fit_range(&[3.0, 97.0], true, false), (0.0, 97.0));
        assert_eq!(fit_range(&[3.0, 97.0], false, false), (3.0, 97.0));
        assert_eq!(fit_range(&[-4.0, -2.0], true, false), (-4.0, 0.0));
        assert_eq!(fit_range(&[0.5, 20_000.0], false, true), (0.5, 20_000.0));
        // A single value gets room; no values a unit range.
        assert_eq!(fit_range(&[5.0], true, false), (0.0, 5.0));
        assert_eq!(fit_range(&[0.0, 0.0], true, false), (0.0, 1.0));
        assert_eq!(fit_range(&[42.0], false, false), (37.8, 46.2));
        assert_eq!(fit_range(&[7.0], false, true), (3.5, 14.0));
        assert_eq!(fit_range(&[], true, false), (0.0, 1.0));
        // The pixel mapping plotters uses ends where the range does.
        let x = RangedCoordf64::from(0.0..97.0);
        assert_eq!(x.map(&97.0, (64, 564)), 564);
        assert_eq!(x.map(&0.0, (64, 564)), 64);
    }

    #[test]
    fn tick_labels_are_short() {
        assert_eq!(tick_label(0.0), "0");
        assert_eq!(tick_label(0.15), "0.15");
        assert_eq!(tick_label(0.1 + 0.2), "0.3");
        assert_eq!(tick_label(100.0), "100");
        assert_eq!(tick_label(1250.0), "1250");
        assert_eq!(tick_label(40_000.0), "40k");
        assert_eq!(tick_label(2_500_000.0), "2.5M");
        assert_eq!(tick_label(-20.0), "-20");
    }

    fn figure_attr(html: &str, name: &str) -> String {
        let at = html.find(&format!(" {name}=\"")).expect(name) + name.len() + 3;
        html[at..at + html[at..].find('"').unwrap()].to_string()
    }

    #[test]
    fn series_are_tagged_in_their_colours_and_axes_declared() {
        let html = Chart::new("t <&>")
            .x_title("x")
            .y_title("y")
            .y2_title("y2")
            .series(
                Series::line("a", color(0), [(1.0, 10.0), (2.0, 30.0), (4.0, 20.0)])
                    .marker(Marker::Dot),
            )
            .series(
                Series::line("b", color(1), [(0.5, 3.0), (3.0, 6.0)])
                    .dashed()
                    .right(),
            )
            .series(Series::line("empty", color(2), [(f64::NAN, 1.0)]))
            .render();
        assert!(
            !html.contains("#FE"),
            "a placeholder colour survived: {html}"
        );
        assert_eq!(figure_attr(&html, "data-series"), "2");
        assert_eq!(figure_attr(&html, "data-x-min"), "0.5");
        assert_eq!(figure_attr(&html, "data-x-max"), "4");
        assert_eq!(figure_attr(&html, "data-y-min"), "0");
        assert_eq!(figure_attr(&html, "data-y-max"), "30");
        assert_eq!(figure_attr(&html, "data-y2-max"), "6");
        assert!(
            html.contains("<figcaption>t &lt;&amp;&gt;</figcaption>"),
            "{html}"
        );
        let polylines: Vec<&str> = html
            .lines()
            .filter(|l| l.starts_with("<polyline data-series-index"))
            .collect();
        assert_eq!(polylines.len(), 2, "{html}");
        assert!(
            polylines[0].contains("data-series-index=\"0\"") && polylines[0].contains("#1f77b4")
        );
        assert!(
            polylines[1].contains("data-series-index=\"1\"")
                && polylines[1].contains("stroke-dasharray")
        );
        assert_eq!(
            html.matches("<circle data-series-index=\"0\"").count(),
            3,
            "{html}"
        );
        assert!(html.contains("<li data-series-index=\"1\" data-points=\"2\" data-axis=\"right\">"));
        assert!(
            !html.contains(">empty</li>"),
            "a series with nothing drawable is listed"
        );
    }

    #[test]
    fn non_finite_points_are_skipped_and_break_the_line() {
        let html = Chart::new("t")
            .series(Series::line(
                "s",
                color(0),
                [
                    (1.0, 1.0),
                    (2.0, f64::NAN),
                    (3.0, 2.0),
                    (4.0, 3.0),
                    (f64::INFINITY, 1.0),
                ],
            ))
            .render();
        assert_eq!(
            html.matches("<polyline data-series-index=\"0\"").count(),
            2,
            "{html}"
        );
        assert!(!html.contains("NaN") && !html.contains("inf"), "{html}");
        assert_eq!(figure_attr(&html, "data-x-max"), "4");

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
    fn single_labelled_point_renders_on_a_log_axis() {
        let html = Chart::new("one")
            .log_x()
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
        assert!(html.contains("<circle data-series-index=\"0\""), "{html}");
        assert!(html.contains("a&lt;b"), "{html}");
        assert_eq!(figure_attr(&html, "data-x-scale"), "log");
        assert_eq!(figure_attr(&html, "data-x-min"), "5");
        assert_eq!(figure_attr(&html, "data-x-max"), "20");
        assert!(!html.contains("NaN"), "{html}");
    }
}
