//! The one way every `pwru cilium` listing is printed: rows of cells (text) and of JSON values, laid out by the
//! listing's shape, with the same answer for "nothing there" in both formats.

use super::tabwriter::{key_value_table, layout};
use serde_json::Value;
use std::io::{self, Write};

/// Writes `v` pretty-printed, with a final newline; a closed pipe stays a plain `io::Error`.
pub(crate) fn write_json(v: &impl serde::Serialize, out: &mut dyn Write) -> io::Result<()> {
    let mut out = io::BufWriter::new(out);
    serde_json::to_writer_pretty(&mut out, v).map_err(io::Error::from)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// Text printed for a listing without rows.
pub(crate) const NO_ENTRIES: &str = "No entries found.";

/// How a listing lays out its rows in text.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Shape {
    /// One line per row, no header (`bpf ct list`, `bpf nat list`); with `blank_after_map`, a blank line ends
    /// each map's rows, as cilium-dbg prints them.
    Lines { blank_after_map: bool },
    /// cilium-dbg's two-column `TablePrinter`: key and value titles; a row's cells are the key, then its values.
    KeyValue(&'static str, &'static str),
    /// A header and tab-separated columns; `trailing_tab` ends every cell with a tab (padding the last column).
    Columns {
        titles: &'static [&'static str],
        trailing_tab: bool,
    },
}

/// One row: its text cells and its JSON object.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub cells: Vec<String>,
    pub json: Value,
    /// The map it came from, as an index into the listing's maps (for `Lines { blank_after_map }`).
    pub map: usize,
}

impl Row {
    pub(crate) fn new(cells: impl IntoIterator<Item = String>, json: Value) -> Row {
        Row {
            cells: cells.into_iter().collect(),
            json,
            map: 0,
        }
    }
}

/// Rows ready to print.
#[derive(Clone, Debug)]
pub(crate) struct Listing {
    pub shape: Shape,
    pub rows: Vec<Row>,
    /// How many maps were read (each ends with a blank line in `Lines { blank_after_map }`).
    pub maps: usize,
    /// Text for no rows.
    pub empty: String,
}

impl Listing {
    pub(crate) fn new(shape: Shape, rows: Vec<Row>) -> Listing {
        Listing {
            shape,
            rows,
            maps: 1,
            empty: NO_ENTRIES.into(),
        }
    }

    /// The rows as text; `empty` on a line when there are none.
    pub(crate) fn text(&self) -> String {
        let mut out = Vec::new();
        // Writing to a Vec cannot fail.
        let _ = self.write_text(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Writes the rows as text (lines as they come: a large conntrack table is not built in memory once more).
    pub(crate) fn write_text(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.rows.is_empty() {
            return writeln!(out, "{}", self.empty);
        }
        let table = match self.shape {
            Shape::Lines { blank_after_map } => {
                let mut out = io::BufWriter::new(out);
                let maps = if blank_after_map { self.maps } else { 1 };
                for m in 0..maps {
                    for r in self.rows.iter().filter(|r| !blank_after_map || r.map == m) {
                        for c in &r.cells {
                            out.write_all(c.as_bytes())?;
                        }
                        out.write_all(b"\n")?;
                    }
                    if blank_after_map {
                        out.write_all(b"\n")?;
                    }
                }
                return out.flush();
            }
            Shape::KeyValue(h1, h2) => {
                let rows: Vec<(String, Vec<String>)> = self
                    .rows
                    .iter()
                    .map(|r| match r.cells.split_first() {
                        Some((k, vals)) => (k.clone(), vals.to_vec()),
                        None => (String::new(), Vec::new()),
                    })
                    .collect();
                key_value_table(h1, h2, &rows)
            }
            Shape::Columns {
                titles,
                trailing_tab,
            } => {
                let line = |cells: &mut dyn Iterator<Item = &str>| {
                    let mut l = cells.collect::<Vec<_>>().join("\t");
                    if trailing_tab {
                        l.push('\t');
                    }
                    l.push('\n');
                    l
                };
                let mut s = line(&mut titles.iter().copied());
                for r in &self.rows {
                    s.push_str(&line(&mut r.cells.iter().map(String::as_str)));
                }
                layout(&s)
            }
        };
        out.write_all(table.as_bytes())
    }

    /// Writes the rows' JSON values as one pretty-printed array (`[]` when there are none).
    pub(crate) fn write_json(&self, out: &mut dyn Write) -> io::Result<()> {
        write_json(&self.rows.iter().map(|r| &r.json).collect::<Vec<_>>(), out)
    }

    /// The rows' JSON values as an array (`[]` when there are none).
    pub(crate) fn json(&self) -> Value {
        Value::Array(self.rows.iter().map(|r| r.json.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shapes() {
        let rows = || {
            vec![
                Row::new(["a".to_string(), "b".into()], json!(1)),
                Row::new(["ccc".into(), "d".into()], json!(2)),
            ]
        };
        let kv = Listing::new(Shape::KeyValue("K", "V"), rows());
        assert_eq!(kv.text(), "K     V\na     b    \nccc   d    \n");
        assert_eq!(kv.json(), json!([1, 2]));
        let cols = Listing::new(
            Shape::Columns {
                titles: &["K", "V"],
                trailing_tab: false,
            },
            rows(),
        );
        assert_eq!(cols.text(), "K     V\na     b\nccc   d\n");
        let mut lines = Listing::new(
            Shape::Lines {
                blank_after_map: true,
            },
            rows(),
        );
        lines.rows[1].map = 2;
        lines.maps = 3;
        assert_eq!(lines.text(), "ab\n\n\ncccd\n\n");
        for shape in [
            Shape::Lines {
                blank_after_map: true,
            },
            Shape::KeyValue("K", "V"),
        ] {
            let empty = Listing::new(shape, vec![]);
            assert_eq!(
                (empty.text(), empty.json()),
                ("No entries found.\n".into(), json!([]))
            );
        }
    }
}
