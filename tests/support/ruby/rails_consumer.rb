# frozen_string_literal: true
# Real Rails ActiveJob 6.1 (Debian ruby-activejob) on real Sidekiq 6.4.1, for interop tests.
#
#   INTEROP_OUT=out.jsonl REDIS_URL=redis://127.0.0.1:6393/0 \
#     sidekiq -r ./rails_consumer.rb -q default -c 1
#
# MyJob#perform appends one JSON line per run to INTEROP_OUT: its metadata and every argument
# described with its Ruby class (`class`, `inspect`; hashes item by item, keys with theirs), so
# a test can check which Ruby types Rails built from a Python-written payload.
require "sidekiq"
require "active_job"
require "active_support/all"
require "json"
require "global_id"

OUT_PATH = ENV.fetch("INTEROP_OUT") { raise "set INTEROP_OUT to the output .jsonl path" }
WRITE_LOCK = Mutex.new
Time.zone = "UTC"
ActiveJob::Base.queue_adapter = :sidekiq
ActiveJob::Base.logger = Logger.new(nil)

if ENV["FAST_POLL"]
  require "sidekiq/scheduled"
  Sidekiq.options[:poll_interval_average] = 0.2
  module VerkTestFastPoller
    private

    def initial_wait; end
  end
  Sidekiq::Scheduled::Poller.prepend(VerkTestFastPoller)
end

def describe(value)
  case value
  when Hash
    { "class" => value.class.name, "items" => value.map { |k, v| [k.class.name, k.to_s, describe(v)] } }
  when Array then { "class" => "Array", "items" => value.map { |v| describe(v) } }
  else { "class" => value.class.name, "inspect" => value.inspect }
  end
end

GlobalID.app = "app"

# A record GlobalID can find: `gid://app/Person/<id>` locates `Person.find(id)`.
class Person
  include GlobalID::Identification
  attr_reader :id

  def initialize(id) = @id = id
  def self.find(id) = new(id)
  def inspect = "#<Person id=#{id}>"
end

class MyJob < ActiveJob::Base
  def perform(*args, **kwargs)
    line = JSON.generate({
      "job_class" => self.class.name, "job_id" => job_id, "queue" => queue_name,
      "priority" => priority, "locale" => locale, "timezone" => timezone,
      "executions" => executions, "provider_job_id" => provider_job_id,
      "args" => args.map { |a| describe(a) },
      "kwargs" => kwargs.map { |k, v| [k.class.name, k.to_s, describe(v)] },
      "performed_at" => Time.now.to_f
    })
    WRITE_LOCK.synchronize { File.open(OUT_PATH, "a") { |f| f.puts(line) } }
  end
end
