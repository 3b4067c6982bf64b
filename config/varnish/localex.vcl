vcl 4.1;
# The edge in front of localex-storage's public URLs (its delivery route `/files/…`, or a bucket
# served through the service or radosgw). Include it after a `backend default { … }` of your own;
# scripts/varnish.sh does exactly that for the tests.
#
# - Caching follows the objects' Cache-Control (Varnish's built-in rules): public images
#   (`public, max-age=2592000, immutable`) are cached; `private` (documents), `no-store` (temporary
#   uploads) and anything with Authorization or a cookie are passed to the origin every time.
# - The cache key is the URL alone (one site behind this edge): the Host a purge arrives with
#   does not matter.
# - `PURGE /path` drops that URL; `PURGE /prefix/*` drops everything under the prefix (a ban on
#   the URL, processed by the ban lurker). Accepted from the addresses in `purgers` only (loopback);
#   anyone else gets 403.
# - Every answer says `X-Cache: HIT|MISS|PASS` (and `Age`); localex-storage reads it to count hits.
import std;

acl purgers {
  "127.0.0.1";
  "::1";
}

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) {
      return (synth(403, "PURGE not allowed from " + client.ip));
    }
    if (req.url ~ "\*$") {
      # Regex metacharacters of the prefix are escaped: the ban matches the prefix literally.
      if (std.ban("obj.http.x-url ~ ^" + regsuball(regsub(req.url, "\*$", ""), {"([][(){}.*+?^$|\\])"}, {"\\\1"}))) {
        return (synth(200, "Banned"));
      }
      return (synth(400, "Ban refused: " + std.ban_error()));
    }
    return (purge);
  }
  if (req.method != "GET" && req.method != "HEAD") {
    return (pass);
  }
  if (req.http.Authorization || req.http.Cookie) {
    return (pass);
  }
  return (hash);
}

sub vcl_hash {
  hash_data(req.url);
  return (lookup);
}

sub vcl_backend_response {
  # Kept on the object so prefix bans can match it; never sent to clients.
  set beresp.http.x-url = bereq.url;
  if (beresp.status >= 400) {
    # A 404 for an object that is uploaded a moment later must not linger; errors are not cached.
    set beresp.ttl = 0s;
    set beresp.uncacheable = true;
    return (deliver);
  }
  # Everything else: the built-in rules (TTL from s-maxage/max-age/Expires; private, no-cache,
  # no-store, Set-Cookie and Vary: * are never cached).
}

sub vcl_deliver {
  if (obj.hits > 0) {
    set resp.http.X-Cache = "HIT";
  } elsif (obj.uncacheable) {
    set resp.http.X-Cache = "PASS";
  } else {
    set resp.http.X-Cache = "MISS";
  }
  unset resp.http.x-url;
}

sub vcl_purge {
  return (synth(200, "Purged"));
}
