//! Finders and deleters for iam objects (see the module above).
