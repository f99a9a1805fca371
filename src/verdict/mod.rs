//! Verdicts: one outcome, cause and evidence per connection.
