# frozen_string_literal: true
# A real Sidekiq process running sidekiq-cron's poller every ~1 s (for the cron interop tests).
require_relative "ruby_consumer"
require "sidekiq-cron"

Sidekiq.options[:cron_poll_interval] = 1
Sidekiq.options[:poll_interval_average] = 1 # no 10 s initial wait before the first poll
