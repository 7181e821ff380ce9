-- wrk script for scripts/soak.sh: POST /v1/classify with a rotating set of calls, and count
-- answers by status per thread (wrk itself only counts non-2xx as one number).
local calls = {
  "坐席：您好，12345。市民：我住朝阳区望京西园三区，旁边那个建筑工地天天夜里施工，凌晨一两点还在打桩，吵得根本睡不着。",
  "市民：海淀区学院路小区暖气不热，屋里才十五度，老人孩子都冻感冒了，物业也不管。",
  "市民：楼道里燃气味很大，好像是哪家漏气了，我们不敢开灯，你们赶紧派人来看看。",
  "市民：我们公司拖欠工资三个月了，老板联系不上，在丰台区，一共二十多个工人。",
  "坐席：请讲。市民：东城区某超市卖过期牛奶，我买了一箱都过期了，找他们退货不给退。",
  "市民：孩子明年上小学，户口在西城区，房子在通州区，入学登记需要准备哪些材料？",
  "市民：小区门口垃圾好几天没人清，臭得不行，还招苍蝇，麻烦让环卫来处理一下。",
  "市民：楼下新开的烧烤店每天晚上油烟特别大，一直弄到半夜两三点，还特别吵。",
}
local bodies = {}
for i, c in ipairs(calls) do
  bodies[i] = '{"text": "' .. c .. '"}'
end
local threads = {}
local n = 0
counts = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function request()
  n = n + 1
  return wrk.format("POST", "/v1/classify", { ["Content-Type"] = "application/json" }, bodies[(n % #bodies) + 1])
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts") or {}
    for status, k in pairs(c) do
      total[status] = (total[status] or 0) + k
    end
  end
  local parts = {}
  for status, k in pairs(total) do
    table.insert(parts, string.format('"%d": %d', status, k))
  end
  io.write(string.format('{"requests": %d, "seconds": %.3f, "socket_errors": %d, "timeouts": %d, "p50_ms": %.2f, "p90_ms": %.2f, "p99_ms": %.2f, "max_ms": %.2f, "status": {%s}}\n',
    summary.requests, summary.duration / 1e6, summary.errors.connect + summary.errors.read + summary.errors.write, summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000, latency.max / 1000, table.concat(parts, ", ")))
end
