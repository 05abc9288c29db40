"""User modules that use fwdcompile's decorators directly (unlike tests/corpus)."""
