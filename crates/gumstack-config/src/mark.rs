//! [`Mark`], a position in the text of a config.yaml, shared by the located tree of
//! `document` and the errors of `error`.

use saphyr_parser::Marker;

/// A position in the text: line and column, both counted from 1 (columns in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Mark {
    pub(crate) line: usize,
    pub(crate) column: usize,
}

impl From<Marker> for Mark {
    fn from(marker: Marker) -> Self {
        // The parser counts lines from 1 and columns from 0.
        Mark {
            line: marker.line(),
            column: marker.col() + 1,
        }
    }
}
