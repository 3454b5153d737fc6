# Press a button of Sidekiq::Web (ruby-sidekiq 6.4.1's own Rack app) without a server, as a
# browser does: GET the page (the Rack session gets a CSRF secret, the form an authenticity
# token), then POST the form with that token and the same session.
# `ruby web_post.rb /busy identity=host:1:abc quiet=1` prints
# {"get": N, "post": N, "location": "...", "without_token": N} as JSON; "without_token" is the
# status of the same POST without the token (CSRF protection refuses it).
require "sidekiq"
require "sidekiq/web"
require "rack/mock"
require "json"

Sidekiq.configure_client { |c| c.redis = { url: ENV.fetch("REDIS_URL") } }
Sidekiq.logger.level = Logger::WARN

app = Sidekiq::Web.new
path, *pairs = ARGV
params = pairs.to_h { |pair| pair.split("=", 2) }
session = {}
page = Rack::MockRequest.new(app).get(path, "rack.session" => session)
token = page.body[/name='authenticity_token' value='([^']+)'/, 1] or abort("no authenticity token on #{path}")
refused = Rack::MockRequest.new(app).post(path, "rack.session" => session, params: params)
res = Rack::MockRequest.new(app).post(
  path, "rack.session" => session, params: params.merge("authenticity_token" => token)
)
puts JSON.generate(
  "get" => page.status, "post" => res.status, "location" => res["Location"],
  "without_token" => refused.status
)
