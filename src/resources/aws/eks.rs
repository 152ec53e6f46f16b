//! Finders and deleters for eks objects (see the module above).
