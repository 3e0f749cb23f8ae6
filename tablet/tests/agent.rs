//! Tablet agents against a real control plane (in-process `vitrail control`
//! member: gRPC, Raft, RocksDB) with real mariadbd: registration, alive
//! keys, InitShardPrimary with semi-sync, demotion on a newer term, and
//! self-fencing when the lease cannot be renewed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use consensus::api::ApiConfig;
use consensus::node::NodeConfig;
use consensus::server::Server;
use futures::StreamExt;
use mysql_async::prelude::Queryable;
use tablet::agent::init_primary::{init_shard_primary, InitOptions};
use tablet::agent::{AgentConfig, TabletAgent};
use tablet::TabletType;
use topo::kv::{EtcdKv, Revision, WatchEvent};
use topo::records::{Cell, DurabilityPolicy, Keyspace, TabletAlias, TabletType as TopoType};
use topo::server::Topo;

const TTL: Duration = Duration::from_secs(4);
const MARGIN: Duration = Duration::from_millis(1500);

async fn control_plane(dir: &std::path::Path) -> Server {
    let client = format!("127.0.0.1:{}", common::free_port());
    let peer = format!("127.0.0.1:{}", common::free_port());
    let server = Server::start(
        NodeConfig::new("n1", dir.join("control"), &client, &peer),
        ApiConfig::default(),
        None,
    )
    .await
    .unwrap();
    common::eventually(Duration::from_secs(20), "a control-plane leader", || {
        let leader = server.node().status().leader;
        async move { leader != 0 }
    })
    .await;
    server
}

async fn dba(agent: &TabletAgent) -> mysql_async::Conn {
    mysql_async::Conn::new(agent.tablet().mysqld.dba_opts())
        .await
        .unwrap()
}

fn agent_config(endpoint: &str, uid: u32, root: &std::path::Path) -> AgentConfig {
    let mut cfg = AgentConfig::new(
        vec![endpoint.to_string()],
        "zone1",
        uid,
        "commerce",
        "0",
        root,
        "127.0.0.1:0".parse().unwrap(),
        common::free_port(),
    );
    cfg.lease_ttl = TTL;
    cfg.fence_margin = MARGIN;
    cfg.tablet.health_probe_interval = Duration::from_millis(300);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn agents_register_init_primary_demote_and_fence() {
    let dir = tempfile::tempdir().unwrap();
    let server = control_plane(dir.path()).await;
    let endpoint = server.client_addr().to_string();
    let topo = Topo::new(Arc::new(EtcdKv::connect(&[&endpoint]).await.unwrap()));
    topo.create_cell(&Cell {
        name: "zone1".into(),
        region: String::new(),
    })
    .await
    .unwrap();
    topo.create_keyspace(
        &Keyspace {
            name: "commerce".into(),
            durability_policy: DurabilityPolicy::SemiSync,
            served_from: None,
        },
        1,
    )
    .await
    .unwrap();

    // A replica cannot start as primary.
    let mut bad = agent_config(&endpoint, 100, dir.path());
    bad.initial_type = TopoType::Primary;
    assert!(TabletAgent::start(bad).await.is_err());

    // Three agents, started concurrently.
    let (a, b, c) = tokio::join!(
        TabletAgent::start(agent_config(&endpoint, 101, dir.path())),
        TabletAgent::start(agent_config(&endpoint, 102, dir.path())),
        TabletAgent::start(agent_config(&endpoint, 103, dir.path())),
    );
    let (a, b, c) = (a.unwrap(), b.unwrap(), c.unwrap());
    for agent in [&a, &b, &c] {
        let rec = topo.get_tablet(agent.alias()).await.unwrap().value;
        assert_eq!(rec.tablet_type, TopoType::Replica);
        assert_eq!(rec.grpc_port, agent.grpc_addr().port());
        assert_eq!(
            rec.mysql_port,
            agent.tablet().mysqld.config().port,
            "record names the tablet's mysqld"
        );
        assert_eq!(
            (rec.keyspace.as_str(), rec.shard.as_str()),
            ("commerce", "0")
        );
        assert!(topo.is_alive(agent.alias()).await.unwrap());
    }
    assert_eq!(topo.list_alive("zone1").await.unwrap().len(), 3);

    // InitShardPrimary: a new shard refuses a tablet that is not in it.
    let stranger = TabletAlias::new("zone1", 999);
    let err = init_shard_primary(&topo, "commerce", "0", &stranger, &InitOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not registered"), "{err}");
    let report = init_shard_primary(&topo, "commerce", "0", a.alias(), &InitOptions::default())
        .await
        .unwrap();
    assert_eq!(report.term, 1);
    assert!(report.semi_sync);
    assert_eq!(report.replicas.len(), 2);
    let shard = topo.get_shard("commerce", "0").await.unwrap().value;
    assert_eq!(shard.primary_alias.as_ref(), Some(a.alias()));
    assert_eq!(shard.primary_term, 1);
    assert!(shard.is_primary_serving);
    assert_eq!(
        topo.get_tablet(a.alias()).await.unwrap().value.tablet_type,
        TopoType::Primary
    );
    assert_eq!(a.tablet().state.role().tablet_type, TabletType::Primary);
    assert!(!a.tablet().replication.read_only().await.unwrap());
    let srv = topo.get_srv_keyspace("zone1", "commerce").await.unwrap();
    assert_eq!(srv.shards_for(TopoType::Primary).len(), 1);
    // A second init is refused: the shard has a primary.
    let again = init_shard_primary(&topo, "commerce", "0", b.alias(), &InitOptions::default())
        .await
        .unwrap_err();
    assert!(again.to_string().contains("already has primary"), "{again}");

    // The journal row and a write reach both replicas.
    let mut p = dba(&a).await;
    let semi: Option<(String, String)> = p
        .query_first("SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'")
        .await
        .unwrap();
    assert_eq!(semi.map(|(_, v)| v).as_deref(), Some("ON"));
    p.query_drop("CREATE DATABASE app").await.unwrap();
    p.query_drop("CREATE TABLE app.t (id INT PRIMARY KEY, v VARCHAR(10))")
        .await
        .unwrap();
    p.query_drop("INSERT INTO app.t VALUES (1, 'one')")
        .await
        .unwrap();
    let pos = a.tablet().replication.primary_position().await.unwrap();
    for replica in [&b, &c] {
        replica
            .tablet()
            .replication
            .wait_for_position(&pos, Duration::from_secs(30))
            .await
            .unwrap();
        let mut conn = dba(replica).await;
        let v: Option<String> = conn
            .query_first("SELECT v FROM app.t WHERE id = 1")
            .await
            .unwrap();
        assert_eq!(v.as_deref(), Some("one"));
        let journal: Option<String> = conn
            .query_first("SELECT primary_alias FROM _vt.reparent_journal")
            .await
            .unwrap();
        assert_eq!(journal.as_deref(), Some("101"));
        assert!(replica.tablet().replication.read_only().await.unwrap());
    }

    // An agent that dies without cleanup: its alive key goes within the TTL.
    let c_alias = c.alias().clone();
    let alive_key = topo.layout().alive(&c_alias);
    let mut events = topo
        .kv()
        .watch_prefix(&alive_key, Revision(0))
        .await
        .unwrap();
    let died = tokio::time::Instant::now();
    c.crash().await.unwrap();
    tokio::time::timeout(TTL + Duration::from_secs(2), async {
        while let Some(ev) = events.next().await {
            if matches!(ev.unwrap(), WatchEvent::Delete { ref key, .. } if *key == alive_key) {
                return;
            }
        }
        panic!("watch ended");
    })
    .await
    .expect("alive key of a dead tablet should vanish with its lease");
    assert!(died.elapsed() <= TTL + Duration::from_secs(2));
    assert!(!topo.is_alive(&c_alias).await.unwrap());
    assert!(topo.is_alive(a.alias()).await.unwrap());

    // A newer term naming another tablet: the old primary demotes itself.
    let mut a_role = a.tablet().state.subscribe();
    topo.update_shard_fields("commerce", "0", |s| {
        s.primary_alias = Some(b.alias().clone());
        s.primary_term = 2;
        Ok(())
    })
    .await
    .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        a_role.wait_for(|r| r.tablet_type == TabletType::Replica),
    )
    .await
    .expect("old primary should demote itself")
    .unwrap();
    // Demotion refuses writes in the tablet first, then sets read_only.
    common::eventually(Duration::from_secs(5), "demoted primary read_only", || {
        let repl = a.tablet().replication.clone();
        async move { repl.read_only().await.unwrap() }
    })
    .await;
    common::eventually(Duration::from_secs(10), "record of demoted primary", || {
        let topo = topo.clone();
        let alias = a.alias().clone();
        async move { topo.get_tablet(&alias).await.unwrap().value.tablet_type == TopoType::Replica }
    })
    .await;

    // b takes over (as a reparent would), then loses the control plane: it
    // must fence itself before its lease could expire.
    b.tablet().replication.promote(2).await.unwrap();
    assert!(!b.tablet().replication.read_only().await.unwrap());
    common::eventually(Duration::from_secs(10), "record of new primary", || {
        let topo = topo.clone();
        let alias = b.alias().clone();
        async move { topo.get_tablet(&alias).await.unwrap().value.tablet_type == TopoType::Primary }
    })
    .await;
    let mut fenced = b.fenced();
    assert!(!*fenced.borrow());
    server.shutdown().await;
    tokio::time::timeout(TTL, fenced.wait_for(|f| *f))
        .await
        .expect("primary should fence itself before the lease TTL")
        .unwrap();
    // Fenced (read_only already set) before the store could expire the
    // lease: less than TTL after the last renewal that reached it, and not
    // much later than TTL - margin.
    let since_renewal = b.last_renewal().elapsed();
    assert!(b.tablet().replication.read_only().await.unwrap());
    assert!(
        since_renewal < TTL && since_renewal < TTL - MARGIN + Duration::from_millis(800),
        "fenced {since_renewal:?} after the last renewal (ttl {TTL:?}, margin {MARGIN:?})"
    );
    // The replica a is not fenced (it takes no writes anyway).
    assert!(!*a.fenced().borrow());

    // The control plane is gone: stop without revoking.
    a.crash().await.unwrap();
    b.crash().await.unwrap();
}
