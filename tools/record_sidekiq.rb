# frozen_string_literal: true
# Records what real Sidekiq client calls leave in Redis, as fixtures/sidekiq-*/ JSON files.
#
#   REDIS_URL=redis://127.0.0.1:<free port>/0 OUT_DIR=/tmp/rec ruby tools/record_sidekiq.rb
#
# Sidekiq comes from the load path: the installed gem (Debian ruby-sidekiq 6.4.1), or a source
# tree given with RUBYLIB=<sidekiq>/lib:<redis-client>/lib:<connection_pool>/lib for 7.x.
# Point REDIS_URL at a private, empty redis-server: the script refuses a database that already
# holds keys, and FLUSHDBs it before every case. Values are read back with the tiny RESP reader
# below, so the bytes in "raw" are exactly what Redis stores. See tools/README.md.
require "sidekiq"
require "json"
require "socket"
require "uri"
require "digest"
require "fileutils"

# A minimal RESP2 client: no Redis library decodes the stored bytes.
class RawRedis
  def initialize(url)
    uri = URI(url)
    @sock = TCPSocket.new(uri.host, uri.port || 6379)
    db = uri.path.to_s.delete("/")
    call("SELECT", db) unless db.empty?
  end

  def call(*args)
    @sock.write("*#{args.size}\r\n" + args.map { |a| s = a.to_s.b; "$#{s.bytesize}\r\n#{s}\r\n" }.join)
    read_reply
  end

  private

  def read_reply
    line = @sock.gets("\r\n").chomp("\r\n")
    case line[0]
    when "+" then line[1..]
    when "-" then raise "Redis error: #{line[1..]}"
    when ":" then Integer(line[1..])
    when "$"
      n = Integer(line[1..])
      return nil if n.negative?
      data = @sock.read(n + 2)
      data[0, n].force_encoding(Encoding::UTF_8)
    when "*"
      n = Integer(line[1..])
      n.negative? ? nil : Array.new(n) { read_reply }
    else raise "unexpected RESP reply #{line.inspect}"
    end
  end
end

REDIS_URL = ENV.fetch("REDIS_URL") { abort "set REDIS_URL to a private redis-server" }
OUT_DIR = ENV.fetch("OUT_DIR") { abort "set OUT_DIR to the folder to write the JSON files to" }
RAW = RawRedis.new(REDIS_URL)
abort "refusing to record: #{REDIS_URL} is not empty (FLUSHDB would lose data)" if RAW.call("DBSIZE").positive?

Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
Sidekiq.configure_client { |config| config.redis = { url: REDIS_URL } }

JOB_MODULE = defined?(Sidekiq::Job) ? Sidekiq::Job : Sidekiq::Worker

class FixtureWorker
  include JOB_MODULE
  def perform(*) = nil
end

def raw_entry(raw)
  { "raw" => raw, "raw_sha256" => Digest::SHA256.hexdigest(raw), "raw_bytesize" => raw.bytesize }
end

# Every key in the db: type, content and TTL (the "other_keys" / "keys" shape of the fixtures).
def dump_key(key)
  type = RAW.call("TYPE", key)
  entry = { "type" => type }
  case type
  when "list" then entry["items"] = RAW.call("LRANGE", key, 0, -1)
  when "set" then entry["members"] = RAW.call("SMEMBERS", key).sort
  when "zset"
    entry["items"] = RAW.call("ZRANGE", key, 0, -1, "WITHSCORES").each_slice(2).map do |m, s|
      { "member" => m, "score" => Float(s), "score_raw" => s }
    end
  when "hash" then entry["fields"] = RAW.call("HGETALL", key).each_slice(2).to_h
  when "string" then entry["value"] = RAW.call("GET", key)
  end
  entry.merge("ttl" => RAW.call("TTL", key))
end

def header
  info = RAW.call("INFO", "server")
  {
    "sidekiq_version" => Sidekiq::VERSION,
    "ruby_version" => "#{RUBY_VERSION}p#{RUBY_PATCHLEVEL} (#{RUBY_PLATFORM})",
    "redis_version" => info[/redis_version:(\S+)/, 1]
  }
end

# Runs one case after a FLUSHDB and writes <name>.json: the payload(s) under `key`, plus every
# other key the call left.
def record(name, key, note)
  RAW.call("FLUSHDB")
  yield
  entry = dump_key(key)
  out = header.merge("redis_key" => key, "redis_type" => entry["type"])
  items = (entry["items"] || []).map do |item|
    item.is_a?(Hash) ? raw_entry(item["member"]).merge(item.slice("score", "score_raw")) : raw_entry(item)
  end
  if items.size == 1
    out.merge!(items.first)
  else
    out["items"] = items.map { |i| i.except("raw_bytesize") }
  end
  others = (RAW.call("KEYS", "*") - [key]).sort.to_h { |k| [k, dump_key(k)] }
  out.merge!("note" => note, "other_keys" => others)
  File.write(File.join(OUT_DIR, "#{name}.json"), JSON.pretty_generate(out) + "\n")
  puts "#{name}: #{key} (#{items.size} item#{items.size == 1 ? "" : "s"})"
end

FileUtils.mkdir_p(OUT_DIR)

record("enqueue_basic", "queue:default", "FixtureWorker.perform_async(1, 'two', 3.0)") do
  FixtureWorker.perform_async(1, "two", 3.0)
end
record("enqueue_floats", "queue:default", "perform_async with Ruby floats") do
  FixtureWorker.perform_async(1.5, 0.1, -0.0, 3.0, 1e20, 1e-7, 1.0 / 3, 123456789.123456789, 1e16)
end
record("enqueue_strings_unicode", "queue:default", "perform_async with non-ASCII strings") do
  FixtureWorker.perform_async("héllo wörld", "日本語", "😀 emoji", "snowman ☃", "\u2028\u2029",
                              "<script>&'</script>", "a/b", "")
end
record("set_retry_false", "queue:default", "FixtureWorker.set(retry: false).perform_async(1)") do
  FixtureWorker.set(retry: false).perform_async(1)
end
record("schedule_perform_in", "schedule", "FixtureWorker.perform_in(300, 'later')") do
  FixtureWorker.perform_in(300, "later")
end
record("schedule_perform_at_integer", "schedule", "FixtureWorker.perform_at(4102444800, 'int-at')") do
  FixtureWorker.perform_at(4_102_444_800, "int-at")
end
record("bulk", "queue:default",
       "Sidekiq::Client.push_bulk('class' => FixtureWorker, 'args' => [[1], [2, 'two'], [{'three' => 3}]])") do
  Sidekiq::Client.push_bulk("class" => FixtureWorker, "args" => [[1], [2, "two"], [{ "three" => 3 }]])
end
record("client_push_given_jid", "queue:default", "Client.push with a caller-supplied jid and created_at") do
  Sidekiq::Client.push("class" => "FixtureWorker", "args" => [], "jid" => "a1b2c3d4e5f6a1b2c3d4e5f6",
                       "created_at" => 1_700_000_000.123456)
end
RAW.call("FLUSHDB")
