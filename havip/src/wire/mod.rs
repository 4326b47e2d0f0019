//! Wire formats: see the module docs of each submodule.
