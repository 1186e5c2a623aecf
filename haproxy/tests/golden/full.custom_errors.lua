-- haproxy-agent: ingress-nginx's custom-http-errors. Fixed text written by the agent:
-- the codes and the error backend come from the route map value (txn.errors).
local dir = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
local dst = "unix@" .. dir .. "/errors.sock"
local max_page = 12288
local skip = { ["content-length"] = true, ["transfer-encoding"] = true,
  ["connection"] = true, ["keep-alive"] = true }

core.register_action("agent_custom_errors", { "http-res" }, function(txn)
  local spec = txn:get_var("txn.errors")
  if spec == nil then return end
  local codes, backend, ns, ingress, service, port =
    spec:match("^([%d,]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)/([^/]+)$")
  if codes == nil then return end
  local status = txn.sf:status()
  local hit = false
  for c in codes:gmatch("%d+") do
    if c == status then hit = true break end
  end
  if not hit then return end
  local headers = {}
  local function set(name, value)
    if value ~= nil and value ~= "" then headers[name] = { value } end
  end
  set("x-agent-error-backend", backend)
  set("x-code", status)
  set("x-format", txn:get_var("txn.errors_accept"))
  set("x-original-uri", txn:get_var("txn.errors_uri"))
  set("x-namespace", ns)
  set("x-ingress-name", ingress)
  set("x-service-name", service)
  set("x-service-port", port)
  set("x-request-id", txn:get_var("txn.errors_id"))
  set("host", txn:get_var("txn.errors_host"))
  local res = core.httpclient():get{ url = "http://errors/", dst = dst,
    headers = headers, timeout = 10000 }
  if res == nil or res.status == nil or res.status == 0 then return end
  if res.body ~= nil and #res.body > max_page then return end
  local reply = txn:reply{ status = res.status, body = res.body }
  for name, values in pairs(res.headers or {}) do
    if not skip[name] then
      local i = 0
      while values[i] ~= nil do
        reply:add_header(name, values[i])
        i = i + 1
      end
    end
  end
  txn:done(reply)
end)
