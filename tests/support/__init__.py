"""Test support: real Ruby Sidekiq processes and the jobs the CLI tests run."""
