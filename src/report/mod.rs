//! Printers: text with ladder diagrams, JSON lines.
