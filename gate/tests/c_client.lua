-- Run by gate/tests/c_client.rs through sysbench's C driver.
function event()
  local con = sysbench.sql.driver():connect()
  -- Re-executions send no parameter types: each must still hit its user.
  local upd = con:prepare("UPDATE users SET name = 'seen' WHERE user_id = ?")
  local id = upd:bind_create(sysbench.sql.type.INT)
  upd:bind_param(id)
  for _, v in ipairs({3, 5, 7}) do
    id:set(v)
    upd:execute()
  end
  -- Two different prepared SELECTs in a transaction: the first one's rows
  -- must be read (announced at prepare) or the second is out of sync.
  con:query("BEGIN")
  local one = con:prepare("SELECT name FROM users WHERE user_id = ?")
  local p = one:bind_create(sysbench.sql.type.INT)
  one:bind_param(p)
  for _, v in ipairs({3, 4}) do
    p:set(v)
    local rs = one:execute()
    if rs == nil or rs.nrows ~= 1 then
      error(string.format("user %d: %s rows", v, rs and rs.nrows or "no result set"))
    end
    rs:free()
  end
  local two = con:prepare("SELECT user_id, name FROM users WHERE user_id BETWEEN ? AND ?")
  local lo = two:bind_create(sysbench.sql.type.INT)
  local hi = two:bind_create(sysbench.sql.type.INT)
  two:bind_param(lo, hi)
  lo:set(2)
  hi:set(6)
  local rs = two:execute()
  if rs == nil or rs.nrows ~= 5 then
    error("range: " .. tostring(rs and rs.nrows))
  end
  rs:free()
  con:query("COMMIT")
  print("ok")
end
