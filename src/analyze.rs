//! The pipeline: files in, verdicts out.
