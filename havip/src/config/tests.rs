//! Golden and error-message tests of both config formats.
