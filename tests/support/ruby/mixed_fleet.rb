# frozen_string_literal: true
# A Ruby Sidekiq process of a mixed fleet: it runs (and records) InteropWorker, the Ruby-only
# class, and hands Python-only classes back to their queue, as verk-compat's
# `--unknown-jobs requeue` does on the Python side. Sidekiq resolves the class before any
# middleware runs, so each Python-only class needs a stub; the middleware (the one shown in
# docs/mixed-fleet.md) hands the stubs' jobs back instead of running them.
require_relative "ruby_consumer"

module PythonOnly; end

class HandBackMiddleware
  def call(worker, job, queue)
    return yield unless worker.is_a?(PythonOnly)

    Sidekiq.redis { |c| c.lpush("queue:#{queue}", Sidekiq.dump_json(job)) }
    sleep 0.5 # back off, so that a queue with no Python consumer does not spin
  end
end

Sidekiq.configure_server do |config|
  config.server_middleware { |chain| chain.add HandBackMiddleware }
end

class PyOnlyJob
  include Sidekiq::Worker
  include PythonOnly
end
