# frozen_string_literal: true
# A Ruby Sidekiq process of a mixed fleet: it runs (and records) InteropWorker, the Ruby-only
# class, and hands Python-only classes back to their queue, as verk-compat's
# `--unknown-jobs requeue` does on the Python side (Sidekiq resolves the class before any
# middleware runs, so the Ruby side needs a stub per Python-only class).
require_relative "ruby_consumer"

class PyOnlyJob
  include Sidekiq::Worker

  def perform(*_args)
    job = Thread.current[:interop_job]
    Sidekiq.redis { |c| c.lpush("queue:#{job["queue"]}", Sidekiq.dump_json(job)) }
    sleep 0.2 # back off, so that a queue with no Python consumer does not spin
  end
end
