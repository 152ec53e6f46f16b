//! Finders and deleters for iot objects (see the module above).
