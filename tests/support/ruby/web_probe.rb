# Render Sidekiq::Web (ruby-sidekiq 6.4.1's own Rack app) pages without a server:
# `ruby web_probe.rb /busy /` prints {"<path>": {"status": N, "body": "<html>"}, ...} as JSON.
# Pages are read from the Redis at REDIS_URL. A GET only needs an (empty) Rack session for the
# CSRF middleware; `POST /busy` with identity=... and quiet=1 or stop=1 is Web's Quiet / Stop button.
require "sidekiq"
require "sidekiq/web"
require "rack/mock"
require "json"

Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN

app = Sidekiq::Web.new
out = {}
ARGV.each do |path|
  res = Rack::MockRequest.new(app).get(path, "rack.session" => {})
  out[path] = { "status" => res.status, "body" => res.body.force_encoding("UTF-8") }
end
puts JSON.generate(out)
