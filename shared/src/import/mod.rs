//! The report importer (next commit).
