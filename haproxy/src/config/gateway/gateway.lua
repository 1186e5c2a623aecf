-- haproxy-agent: Gateway API routes. Fixed text written by the agent: the routes are the
-- entries of two maps beside it (maps/gateway_hosts.map, maps/gateway_rules.map), changed
-- at runtime over the admin socket. Loaded with lua-load-per-thread: every cache below is
-- per thread. See docs/gateway-api.md for the encodings.
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local hosts = Map.new(dir .. "/maps/gateway_hosts.map", Map._str)
local rules = Map.new(dir .. "/maps/gateway_rules.map", Map._str)
local MAX_CACHE = 4096

-- Decoded rule values by candidate id (with their weighted round-robin state) and
-- compiled regexes, each cleared whole when full.
local decoded, ndecoded = {}, 0
local regexes, nregexes = {}, 0

local function unesc(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function regex(src, whole)
  local key = (whole and "W" or "P") .. src
  local re = regexes[key]
  if re == nil then
    if nregexes >= MAX_CACHE then regexes, nregexes = {}, 0 end
    local text = whole and ("^(?:" .. src .. ")$") or src
    local ok, r = Regex.new(text, true)
    re = ok and r or false
    regexes[key] = re
    nregexes = nregexes + 1
  end
  return re or nil
end

local function pair(v)
  local a, b = v:match("^([^:]*):(.*)$")
  if a == nil then return "", "" end
  return unesc(a), unesc(b)
end

local function ops() return { s = {}, a = {}, d = {} } end

local function parse(raw)
  local r = { headers = {}, query = {}, rq = ops(), rs = ops(), backends = {}, total = 0,
    cur = {}, has_rs = false }
  for tok in raw:gmatch("[^&]+") do
    local k, v = tok:match("^([^=]+)=(.*)$")
    if k == "p" then
      r.pkind, r.path = v:sub(1, 1), unesc(v:sub(3))
    elseif k == "m" then
      r.method = unesc(v)
    elseif k == "h" or k == "q" then
      local n, val = pair(v:sub(3))
      local list = (k == "h") and r.headers or r.query
      if k == "h" then n = n:lower() end
      list[#list + 1] = { name = n, value = val, regex = v:sub(1, 1) == "R" }
    elseif k == "rqs" or k == "rqa" or k == "rss" or k == "rsa" or k == "rqd" or k == "rsd" then
      local side = (k:sub(2, 2) == "q") and r.rq or r.rs
      local list = side[k:sub(3, 3)]
      if k:sub(3, 3) == "d" then
        list[#list + 1] = { unesc(v) }
      else
        list[#list + 1] = { pair(v) }
      end
      if side == r.rs then r.has_rs = true end
    elseif k == "rd" then r.redirect = tonumber(v)
    elseif k == "rds" then r.scheme = unesc(v)
    elseif k == "rdh" then r.rhost = unesc(v)
    elseif k == "rdp" then r.rport = tonumber(v)
    elseif k == "rdf" then r.rfull = unesc(v)
    elseif k == "rdx" then r.rprefix = unesc(v)
    elseif k == "b" then
      local w, be = v:match("^(%d+):(.*)$")
      w = tonumber(w) or 0
      r.backends[#r.backends + 1] = { w = w, be = be }
      r.total = r.total + w
    elseif k == "wh" then r.whost = unesc(v)
    elseif k == "wf" then r.wfull = unesc(v)
    elseif k == "wx" then r.wprefix = unesc(v)
    elseif k == "t" then r.timeout = tonumber(v)
    end
  end
  return r
end

-- The decoded rule of candidate `id`, decoded again when its map value changed.
local function rule(id)
  local raw = rules:lookup(id)
  if raw == nil then return nil end
  local c = decoded[id]
  if c ~= nil and c.raw == raw then return c.rule end
  if c == nil then
    if ndecoded >= MAX_CACHE then decoded, ndecoded = {}, 0 end
    ndecoded = ndecoded + 1
  end
  local r = parse(raw)
  decoded[id] = { raw = raw, rule = r }
  return r
end

-- The host entry: the exact host, then *.<suffix> one label shorter at a time (a
-- wildcard covers one or more labels), then any host. An Ingress wildcard covers one
-- label only: its "ingress" entry counts for the first step of the walk alone.
local function host_entry(listen, host)
  local v = hosts:lookup(listen .. "|" .. host)
  if v ~= nil then return v end
  local rest = host
  local labels = 0
  while true do
    local dot = rest:find(".", 1, true)
    if dot == nil then break end
    rest = rest:sub(dot + 1)
    labels = labels + 1
    if rest == "" then break end
    v = hosts:lookup(listen .. "|*." .. rest)
    if v ~= nil and (v ~= "ingress" or labels == 1) then return v end
  end
  return hosts:lookup(listen .. "|*")
end

local function path_ok(r, path)
  if r.pkind == "E" then return path == r.path end
  if r.pkind == "P" then
    local p = r.path
    if p == "/" then return true end
    if path:sub(1, #p) ~= p then return false end
    local nxt = path:sub(#p + 1, #p + 1)
    return nxt == "" or nxt == "/"
  end
  local re = regex(r.path, true)
  return re ~= nil and re:match(path)
end

local function value_ok(m, values)
  if values == nil then return false end
  for _, v in ipairs(values) do
    if m.regex then
      local re = regex(m.value, false)
      if re ~= nil and re:match(v) then return true end
    elseif v == m.value then
      return true
    end
  end
  return false
end

-- Query parameters by name (names case-sensitive, values percent-decoded).
local function query_params(q)
  local out = {}
  for part in q:gmatch("[^&]+") do
    local n, v = part:match("^([^=]*)=?(.*)$")
    n = unesc(n)
    if out[n] == nil then out[n] = {} end
    local l = out[n]
    l[#l + 1] = unesc(v)
  end
  return out
end

local function request_headers(txn)
  local out = {}
  for name, values in pairs(txn.http:req_get_headers()) do
    local l = {}
    local i = 0
    while values[i] ~= nil do
      l[#l + 1] = values[i]
      i = i + 1
    end
    out[name:lower()] = l
  end
  return out
end

local function matches(txn, r, req)
  if not path_ok(r, req.path) then return false end
  if r.method ~= nil and r.method ~= req.method then return false end
  if #r.headers > 0 then
    req.headers = req.headers or request_headers(txn)
    for _, m in ipairs(r.headers) do
      if not value_ok(m, req.headers[m.name]) then return false end
    end
  end
  if #r.query > 0 then
    req.query = req.query or query_params(req.qs)
    for _, m in ipairs(r.query) do
      local values = req.query[m.name]
      if not value_ok(m, values and { values[1] }) then return false end
    end
  end
  return true
end

-- ReplacePrefixMatch: the matched prefix `prefix` of `path` becomes `with`.
local function replace_prefix(path, prefix, with)
  local rest = path
  if prefix ~= "/" then rest = path:sub(#prefix + 1) end
  if rest == "" then
    if with == "" then return "/" end
    return with
  end
  return (with:gsub("/$", "")) .. rest
end

local function apply_ops(http, side, o)
  for _, p in ipairs(o.s) do http[side .. "_set_header"](http, p[1], p[2]) end
  for _, p in ipairs(o.a) do http[side .. "_add_header"](http, p[1], p[2]) end
  for _, p in ipairs(o.d) do http[side .. "_del_header"](http, p[1]) end
end

local function reply(txn, status, location)
  local headers = {}
  if location ~= nil then headers["location"] = { location } end
  txn:done(txn:reply{ status = status, headers = headers })
end

local function new_path(r, req, full, prefix)
  if full ~= nil then return full end
  if prefix ~= nil then return replace_prefix(req.path, r.path, prefix) end
  return req.path
end

local function redirect(txn, r, req, listener_port)
  local scheme = r.scheme or req.scheme
  local port = r.rport
  if port == nil then
    if r.scheme == "https" then port = 443
    elseif r.scheme == "http" then port = 80
    else port = listener_port end
  end
  local authority = r.rhost or req.host
  if not ((scheme == "http" and port == 80) or (scheme == "https" and port == 443)) then
    authority = authority .. ":" .. port
  end
  local loc = scheme .. "://" .. authority .. new_path(r, req, r.rfull, r.rprefix)
  if req.qs ~= "" then loc = loc .. "?" .. req.qs end
  reply(txn, r.redirect, loc)
end

-- Smooth weighted round robin over the rule's backends (zero weights never chosen).
local function pick(r)
  if r.total <= 0 then return nil end
  local best, bi = nil, nil
  for i, b in ipairs(r.backends) do
    if b.w > 0 then
      r.cur[i] = (r.cur[i] or 0) + b.w
      if best == nil or r.cur[i] > best then best, bi = r.cur[i], i end
    end
  end
  r.cur[bi] = r.cur[bi] - r.total
  return r.backends[bi].be
end

local function forward(txn, id, r, req)
  local be = pick(r)
  if be == nil or be == "" then return reply(txn, 500) end
  if r.whost ~= nil then txn.http:req_set_header("host", r.whost) end
  if r.wfull ~= nil or r.wprefix ~= nil then
    txn.http:req_set_path(new_path(r, req, r.wfull, r.wprefix))
  end
  if r.timeout ~= nil then txn:set_var("txn.gw_timeout", r.timeout) end
  if r.has_rs then txn:set_var("txn.gw_rule", id) end
  txn:set_var("txn.route", be)
end

core.register_action("agent_gateway", { "http-req" }, function(txn)
  local host = (txn.sf:req_fhdr("host") or ""):lower():gsub(":%d+$", "")
  local ssl = txn.f:ssl_fc()
  local https = ssl == 1 or ssl == true
  -- The bind's name says which listener this is: http, https (shared with the
  -- Ingresses) or http@<addr>:<port> / https@<addr>:<port> (a Gateway's own bind).
  local listen = txn.f:so_name()
  if listen == nil or listen == "" then listen = https and "https" or "http" end
  local own = listen:find("@", 1, true) ~= nil
  local entry = host_entry(listen, host)
  if entry == nil or entry == "ingress" then
    -- On a Gateway's own bind no Ingress route serves: nothing matched.
    if own then reply(txn, 404) end
    return
  end
  local port, ids = entry:match("^(%d+)|(.*)$")
  if port == nil then return end
  local req = { host = host, path = txn.sf:path() or "/", qs = txn.sf:query() or "",
    method = txn.f:method(), scheme = https and "https" or "http" }
  for id in ids:gmatch("[^,]+") do
    local r = rule(id)
    if r ~= nil and matches(txn, r, req) then
      apply_ops(txn.http, "req", r.rq)
      if r.redirect ~= nil then return redirect(txn, r, req, tonumber(port)) end
      return forward(txn, id, r, req)
    end
  end
  reply(txn, 404)
end)

core.register_action("agent_gateway_response", { "http-res" }, function(txn)
  local id = txn:get_var("txn.gw_rule")
  if id == nil then return end
  local r = rule(id)
  if r ~= nil then apply_ops(txn.http, "res", r.rs) end
end)
