function event()
  local con = sysbench.sql.driver():connect()
  local one = con:prepare("SELECT name FROM users WHERE user_id = ?")
  local p = one:bind_create(sysbench.sql.type.INT)
  one:bind_param(p)
  con:query("BEGIN")
  for _, id in ipairs({3, 5, 3, 7}) do
    p:set(id)
    local rs = one:execute()
    local row = rs:fetch_row()
    if row == nil or row[1] ~= "py" .. id then
      error(string.format("user %d: got %s", id, row and row[1] or "no row"))
    end
    rs:free()
  end
  local two = con:prepare("SELECT COUNT(*) AS n FROM users WHERE user_id BETWEEN ? AND ?")
  local lo = two:bind_create(sysbench.sql.type.INT)
  local hi = two:bind_create(sysbench.sql.type.INT)
  two:bind_param(lo, hi)
  lo:set(2); hi:set(6)
  local rs = two:execute()
  local row = rs:fetch_row()
  if row == nil or tonumber(row[1]) ~= 5 then
    error("count: got " .. tostring(row and row[1]))
  end
  rs:free()
  con:query("COMMIT")
  print("ok")
end
