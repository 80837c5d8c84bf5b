"""BlazeDB's Python bindings (UniFFI-generated `blazedb_ffi`) against the same native library
the Swift package links. scripts/test-bindings.sh generates the module and runs this file."""

import threading
import time
import uuid

import pytest

import blazedb_ffi as b

V = b.BlazeValue


def s(v):
    return V.STRING(value=v)


def i(v):
    return V.INT(value=v)


@pytest.fixture
def db(tmp_path):
    d = b.Database.open(str(tmp_path / "t.blazedb"), b.OpenOptions(busy_timeout_ms=200))
    yield d
    d.close_database()


def test_every_kind_round_trips(db):
    other = str(uuid.uuid4())
    rec = {
        "string": s("héllo"),
        "int": i(-(2**63)),
        "double": V.DOUBLE(value=2.5),
        "bool": V.BOOL(value=True),
        "date": V.DATE(secs=-1, nanos=999_999_999),
        "uuid": V.UUID(value=other),
        "data": V.DATA(value=b"\x00\xff"),
        "array": V.ARRAY(values=[V.NULL(), i(1)]),
        "dictionary": V.DICTIONARY(entries={"k": s("v")}),
        "vector": V.VECTOR(values=[0.5, -1.0]),
        "null": V.NULL(),
    }
    rid = db.insert("c", rec)
    got = db.get("c", rid)
    for k, v in rec.items():
        assert got[k] == v, k
    assert got["id"] == V.UUID(value=rid)
    assert got["project"] == s("Default")
    assert got["createdAt"].is_DATE()


def test_batches_and_paging(db):
    ids = db.insert_many("c", [{"n": i(n)} for n in range(300)])
    assert len(ids) == 300 and len(set(ids)) == 300
    assert db.count("c") == 300
    got = db.get_many("c", [ids[5], str(uuid.uuid4())])
    assert got[0]["n"] == i(5) and got[1] is None
    pages, offset = [], 0
    while True:
        page = db.page("c", offset, 64)
        if not page:
            break
        pages += page
        offset += len(page)
    assert pages == db.all("c")
    assert db.delete_many("c", ids[:100]) == 100
    assert db.count("c") == 200


def test_update_upsert_delete_soft_delete(db):
    rid = db.insert("c", {"title": s("a"), "status": s("open")})
    db.update("c", rid, {"title": s("b")})
    got = db.get("c", rid)
    assert got["title"] == s("b") and "status" not in got and got["updatedAt"].is_DATE()
    db.update_fields("c", rid, {"status": s("done")})
    assert db.get("c", rid)["status"] == s("done")
    assert db.upsert("c", rid, {"x": i(1)}) is False
    assert db.upsert("c", str(uuid.uuid4()), {}) is True
    db.soft_delete("c", rid)
    assert db.get("c", rid) is None
    assert db.soft_deleted_count("c") == 1
    assert db.purge("c") == 1
    assert db.delete("c", rid) is False
    assert db.collections() == ["c"]
    db.rename_collection("c", "d")
    assert db.collections() == ["d"]
    assert db.drop_collection("d") is True


def test_errors_are_typed(db):
    rid = db.insert("c", {})
    with pytest.raises(b.BlazeError.RecordExists) as e:
        db.insert("c", {"id": V.UUID(value=rid)})
    assert e.value.id == rid
    missing = str(uuid.uuid4())
    with pytest.raises(b.BlazeError.RecordNotFound) as e:
        db.update("c", missing, {})
    assert e.value.id == missing
    with pytest.raises(b.BlazeError.InvalidInput):
        db.get("c", "not-a-uuid")
    with pytest.raises(b.BlazeError.InvalidField) as e:
        db.insert("c", {"id": i(3)})
    assert e.value.field == "id"
    with pytest.raises(b.BlazeError.InvalidField):
        db.insert("c", {"when": V.DATE(secs=0, nanos=1_000_000_000)})
    with pytest.raises(b.BlazeError.InvalidInput):
        db.insert("", {})
    assert db.count("c") == 1


def test_second_open_is_locked(db, tmp_path):
    with pytest.raises(b.BlazeError.DatabaseLocked):
        b.Database.open(str(tmp_path / "t.blazedb"), b.OpenOptions())


def test_transactions(db):
    tx = db.begin()
    with pytest.raises(b.BlazeError.TransactionFailed):
        db.begin()
    rid = tx.insert("c", {"a": i(1)})
    tx.insert_many("c", [{}, {}])
    assert tx.count("c") == 3
    assert db.count("c") == 0, "uncommitted writes are invisible to the handle"
    tx.rollback()
    assert not tx.is_open()
    with pytest.raises(b.BlazeError.Closed):
        tx.insert("c", {})
    assert db.get("c", rid) is None

    tx = db.begin()
    tx.insert("c", {"a": i(2)})
    tx.commit()
    assert db.count("c") == 1
    with pytest.raises(b.BlazeError.Closed):
        tx.commit()


def test_use_after_close_throws_closed(tmp_path):
    d = b.Database.open(str(tmp_path / "c.blazedb"), b.OpenOptions())
    tx = d.begin()
    d.close_database()
    d.close_database()
    assert d.is_closed()
    for call in (lambda: d.insert("c", {}), lambda: d.count("c"), lambda: d.all("c"),
                 lambda: d.begin(), lambda: tx.insert("c", {})):
        with pytest.raises(b.BlazeError.Closed):
            call()
    again = b.Database.open(str(tmp_path / "c.blazedb"), b.OpenOptions())
    assert again.count("c") == 0, "close rolled the open transaction back"
    again.close_database()


class Recorder(b.ChangeListener):
    def __init__(self):
        self.batches = []
        self.cond = threading.Condition()

    def on_changes(self, batch):
        with self.cond:
            self.batches.append(batch)
            self.cond.notify_all()

    def on_lagged(self, missed):
        pass

    def wait_for(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.batches) < n and time.monotonic() < deadline:
                self.cond.wait(0.05)
        return list(self.batches)


def test_change_feed(db):
    rec = Recorder()
    sub = db.subscribe(rec)
    ids = db.insert_many("c", [{}, {}])
    db.delete("c", ids[0])
    got = rec.wait_for(2)
    assert len(got) == 2
    assert [c.kind for c in got[0].changes] == [b.ChangeKind.INSERTED] * 2
    assert got[1].changes[0].kind == b.ChangeKind.DELETED and got[1].changes[0].id == ids[0]
    assert got[1].seq > got[0].seq
    sub.cancel()
    assert not sub.is_active()


def test_encryption(tmp_path):
    path = str(tmp_path / "e.blazedb")
    with pytest.raises(b.BlazeError.PasswordTooWeak) as e:
        b.Database.open(path, b.OpenOptions(password="weak", password_policy=True))
    assert e.value.missing
    d = b.Database.open(path, b.OpenOptions(password="DemoPass123!", password_policy=True))
    assert d.is_encrypted()
    marker = "plaintext-marker-" + str(uuid.uuid4())
    rid = d.insert("c", {"note": s(marker)})
    d.close_database()
    with open(path, "rb") as f:
        assert marker.encode() not in f.read()
    with pytest.raises(b.BlazeError.PasswordMismatch):
        b.Database.open(path, b.OpenOptions(password="OtherPass456!"))
    d = b.Database.open(path, b.OpenOptions(password="DemoPass123!"))
    assert d.get("c", rid)["note"] == s(marker)
    assert d.verify_encryption() == []
    d.change_password("NewPass789!x")
    d.close_database()
    b.Database.open(path, b.OpenOptions(password="NewPass789!x")).close_database()
    with pytest.raises(b.BlazeError.InvalidInput):
        b.Database.open(str(tmp_path / "k.blazedb"), b.OpenOptions(key=b"short"))
    k = b.Database.open(str(tmp_path / "k.blazedb"), b.OpenOptions(key=bytes(range(32))))
    assert k.is_encrypted()
    k.close_database()


def test_queries(db):
    db.insert_many("q", [{"n": i(n), "status": s("open" if n % 2 == 0 else "closed")} for n in range(20)])
    F = b.QueryFilter
    spec = b.QuerySpec(
        collection="q",
        filters=[F.EQ(field="status", value=s("open")), F.GTE(field="n", value=i(4))],
        order_by=[b.SortKey(field="n", descending=True)],
        offset=1,
        limit=3,
    )
    assert [r["n"] for r in db.query(spec)] == [i(16), i(14), i(12)]
    assert db.query_count(spec) == 8
    assert db.query_count(b.QuerySpec(collection="q", filters=[F.IS_NIL(field="missing")])) == 20
    tx = db.begin()
    tx.insert("q", {"n": i(99), "status": s("open")})
    assert tx.query_count(spec) == 9
    tx.rollback()


def test_library_functions():
    assert b.default_collection() == "default"
    assert b.library_version()
    # Time-ordered UUIDv7s, as inserts generate: version 7, ascending.
    a, c = b.new_record_id(), b.new_record_id()
    assert uuid.UUID(a).version == 7 and uuid.UUID(c).version == 7
    assert uuid.UUID(a) < uuid.UUID(c)


def op(kind, field, alias):
    return b.AggregateOp(kind=kind, field=field, alias=alias)


def test_indexes_and_unique_violation(db):
    ids = db.insert_many("u", [{"email": s(f"u{n}@x"), "age": i(n % 4)} for n in range(30)])
    ix = db.create_index("u", b.IndexDef(fields=["email"], unique=True))
    assert ix.name == "email" and ix.kind == b.IndexKind.UNIQUE
    db.create_index("u", b.IndexDef(fields=["age", "email"]))
    assert [x.name for x in db.indexes("u")] == ["age+email", "email"]
    q = b.QuerySpec(collection="u", filters=[b.QueryFilter.EQ(field="age", value=i(2))])
    assert db.query_count(q) == sum(1 for n in range(30) if n % 4 == 2)
    with pytest.raises(b.BlazeError.UniqueViolation) as e:
        db.insert("u", {"email": s("u9@x")})
    assert (e.value.index, e.value.collection, e.value.existing) == ("email", "u", ids[9])
    assert db.count("u") == 30
    with pytest.raises(b.BlazeError.UniqueViolation):
        db.create_index("u", b.IndexDef(fields=["age"], unique=True))
    assert db.drop_index("u", "age+email") and not db.drop_index("u", "age+email")


def test_search_ranking(db):
    best = db.insert("n", {"title": s("Rust rust"), "body": s("rust everywhere")})
    db.insert("n", {"title": s("Kotlin"), "body": s("a little rust")})
    db.insert("n", {"title": s("Swift"), "body": s("nothing")})
    with pytest.raises(b.BlazeError.IndexNotFound):
        db.search(b.SearchSpec(collection="n", text="rust"))
    db.create_index("n", b.IndexDef(fields=["title", "body"], full_text=True))
    hits = db.search(b.SearchSpec(collection="n", text="rust", fields=["title", "body"]))
    assert len(hits) == 2
    assert hits[0].record["id"] == V.UUID(value=best)
    assert hits[0].score > hits[1].score
    assert hits[0].field_matches == {"title": ["rust"], "body": ["rust"]}
    assert hits[1].field_matches == {"body": ["rust"]}
    page = db.search(b.SearchSpec(collection="n", text="rust", offset=1, limit=5))
    assert [h.record["id"] for h in page] == [hits[1].record["id"]]
    assert db.search(b.SearchSpec(collection="n", text="swift kotlin")) == []
    assert len(db.search(b.SearchSpec(collection="n", text="swift kotlin", match_any=True))) == 2


def test_aggregate_and_group_by(db):
    statuses = ["open", "fixed", "wontfix"]
    rows = [(statuses[n % 3], (n * n) % 11) for n in range(30)]
    db.insert_many("b", [{"status": s(st), "priority": i(p)} for st, p in rows])
    (one,) = db.aggregate(b.AggregateSpec(collection="b", aggregates=[
        op(b.AggregateKind.COUNT, None, "count"),
        op(b.AggregateKind.SUM, "priority", "total"),
        op(b.AggregateKind.AVG, "priority", "mean"),
        op(b.AggregateKind.MIN, "priority", "low"),
    ]))
    ps = [p for _, p in rows]
    assert one["count"] == i(30)
    assert one["total"] == i(sum(ps))
    assert one["mean"] == V.DOUBLE(value=sum(ps) / 30)
    assert one["low"] == i(min(ps))
    groups = db.aggregate(b.AggregateSpec(
        collection="b", group_by=["status"],
        aggregates=[op(b.AggregateKind.COUNT, None, "n"), op(b.AggregateKind.SUM, "priority", "total")],
        having=[b.QueryFilter.GT(field="total", value=i(0))],
        order_by=[b.SortKey(field="status")],
    ))
    want = sorted(
        (st, sum(1 for x, _ in rows if x == st), sum(p for x, p in rows if x == st)) for st in statuses
    )
    want = [w for w in want if w[2] > 0]
    got = [(g["status"].value, g["n"].value, g["total"].value) for g in groups]
    assert got == want
    with pytest.raises(b.BlazeError.InvalidQuery):
        db.aggregate(b.AggregateSpec(collection="b", aggregates=[op(b.AggregateKind.MAX, None, "x")]))
    assert set(v.value for v in db.distinct(b.QuerySpec(collection="b"), "status")) == set(statuses)


def test_joins_across_databases(tmp_path):
    users = b.Database.open(str(tmp_path / "users.blazedb"), b.OpenOptions())
    bugs = b.Database.open(str(tmp_path / "bugs.blazedb"), b.OpenOptions())
    ana = users.insert("users", {"name": s("ana")})
    users.insert("users", {"name": s("bo")})
    bugs.insert("bugs", {"title": s("crash"), "owner": s(ana)})
    bugs.insert("bugs", {"title": s("orphan")})

    def join(kind):
        spec = b.JoinSpec(left_collection="bugs", left_field="owner", right_collection="users",
                          right_field="id", kind=kind)
        return bugs.join(spec, users)

    inner = join(b.JoinKind.INNER)
    assert [(p.left["title"], p.right["name"]) for p in inner] == [(s("crash"), s("ana"))]
    left = join(b.JoinKind.LEFT)
    assert len(left) == 2 and [p.left["title"] for p in left if p.right is None] == [s("orphan")]
    right = join(b.JoinKind.RIGHT)
    assert len(right) == 2 and [p.right["name"] for p in right if p.left is None] == [s("bo")]
    full = join(b.JoinKind.FULL)
    assert len(full) == 3
    users.close_database()
    with pytest.raises(b.BlazeError.Closed):
        join(b.JoinKind.INNER)
    bugs.close_database()


def test_dumps_backups_stats_health(tmp_path, db):
    ids = db.insert_many("c", [{"n": i(n), "blob": V.DATA(value=bytes([n, 255]))} for n in range(15)])
    db.soft_delete("c", ids[0])
    st = db.stats()
    assert (st.records, st.soft_deleted) == (14, 1)
    assert db.health().status == b.HealthLevel.OK
    dump = str(tmp_path / "c.dump")
    assert db.export_dump(dump, []).records == 14
    info = b.verify_dump(dump)
    assert info.format == b.DumpFormat.LOSSLESS and info.record_count == 14
    fresh = b.Database.open(str(tmp_path / "fresh.blazedb"), b.OpenOptions())
    fresh.restore_dump(dump, None)
    assert fresh.all("c") == db.all("c")
    fresh.close_database()

    v1 = tmp_path / "c.blazedump"
    db.export_upstream_dump("c", str(v1), "ops", b.StoredSchemaVersion(major=1, minor=2))
    info = b.verify_dump(str(v1))
    assert info.format == b.DumpFormat.UPSTREAM_V1
    assert info.schema_version == b.StoredSchemaVersion(major=1, minor=2)
    v1.write_text(v1.read_text().replace('"n":3', '"n":4', 1))
    with pytest.raises(b.BlazeError.CorruptedData):
        b.verify_dump(str(v1))

    backup = str(tmp_path / "c.backup")
    assert db.backup(backup, b.OpenOptions(), False).records == 14
    with pytest.raises(b.BlazeError.InvalidInput):
        db.backup(backup, b.OpenOptions(), False)
    assert b.verify_backup(backup, b.OpenOptions()).ok
    restored = str(tmp_path / "restored.blazedb")
    assert b.restore_backup(backup, b.OpenOptions(), restored, b.OpenOptions(), False).records == 14
    again = b.Database.open(restored, b.OpenOptions())
    assert again.all("c") == db.all("c")
    again.close_database()


def test_new_calls_throw_closed_after_close(tmp_path):
    d = b.Database.open(str(tmp_path / "x.blazedb"), b.OpenOptions())
    d.close_database()
    out = str(tmp_path / "out")
    calls = [
        lambda: d.create_index("c", b.IndexDef(fields=["a"])),
        lambda: d.indexes("c"),
        lambda: d.drop_index("c", "a"),
        lambda: d.search(b.SearchSpec(collection="c", text="a")),
        lambda: d.aggregate(b.AggregateSpec(collection="c", aggregates=[])),
        lambda: d.distinct(b.QuerySpec(collection="c"), "a"),
        lambda: d.join(b.JoinSpec(left_collection="c", left_field="a", right_collection="c",
                                  right_field="id", kind=b.JoinKind.INNER), None),
        lambda: d.explain(b.QuerySpec(collection="c")),
        lambda: d.stats(),
        lambda: d.health(),
        lambda: d.backup(out, b.OpenOptions(), False),
        lambda: d.export_dump(out, []),
        lambda: d.restore_dump(out, "c"),
    ]
    for call in calls:
        with pytest.raises(b.BlazeError.Closed):
            call()
