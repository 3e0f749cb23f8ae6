//! QueryService over the [`QueryEngine`] and the health reporter.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use futures::Stream;
use tonic::{Request, Response, Status};

use super::pb::{self, query_service_server::QueryService};
use super::{
    bind_vars_from_pb, field_to_pb, result_to_pb, rows_to_pb, status_from, tablet_type_to_pb,
};
use crate::error::Error;
use crate::health::{HealthReporter, HealthSnapshot, STREAM_INTERVAL};
use crate::query::{QueryEngine, StreamChunk};

pub struct QueryServiceImpl {
    engine: QueryEngine,
    health: Arc<HealthReporter>,
}

impl QueryServiceImpl {
    pub fn new(engine: QueryEngine, health: Arc<HealthReporter>) -> Self {
        QueryServiceImpl { engine, health }
    }
}

fn timeout_of(o: Option<&pb::ExecuteOptions>) -> Option<Duration> {
    o.map(|o| o.timeout_ms)
        .filter(|ms| *ms > 0)
        .map(Duration::from_millis)
}

fn query_of(q: Option<pb::BoundQuery>) -> Result<pb::BoundQuery, Status> {
    q.ok_or_else(|| status_from(Error::InvalidArgument("missing query".into())))
}

pub(crate) fn health_to_pb(s: &HealthSnapshot) -> pb::StreamHealthResponse {
    pb::StreamHealthResponse {
        tablet_uid: s.uid.0,
        tablet_type: tablet_type_to_pb(s.tablet_type) as i32,
        serving: s.serving,
        primary_term: s.primary_term,
        replication_lag_seconds: s.replication_lag_seconds,
        gtid_position: s.position.clone(),
        mysqld_alive: s.mysqld_alive,
        health_error: s.error.clone(),
        read_only: s.read_only,
    }
}

/// How much of a streamed result the tablet gathers before it answers (see
/// `stream_execute`).
const PREFIX_BYTES: usize = 64 * 1024;

/// One chunk of a streamed result as its StreamExecute message; `columns`
/// are the result's, kept from its first chunk to encode its rows.
fn message(
    chunk: Result<StreamChunk, Error>,
    columns: &mut Vec<crate::query::result::Column>,
) -> Result<pb::StreamExecuteResponse, Status> {
    let result = match chunk.map_err(status_from)? {
        StreamChunk::Columns(c) => {
            let fields = c.iter().map(field_to_pb).collect();
            *columns = c;
            pb::QueryResult {
                fields,
                ..Default::default()
            }
        }
        StreamChunk::Rows(rows) => pb::QueryResult {
            rows: rows_to_pb(columns, rows),
            ..Default::default()
        },
    };
    Ok(pb::StreamExecuteResponse {
        result: Some(result),
    })
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send + 'static>>;

#[tonic::async_trait]
impl QueryService for QueryServiceImpl {
    async fn execute(
        &self,
        request: Request<pb::ExecuteRequest>,
    ) -> Result<Response<pb::ExecuteResponse>, Status> {
        let req = request.into_inner();
        let timeout = timeout_of(req.options.as_ref());
        let q = query_of(req.query)?;
        let vars = bind_vars_from_pb(&q.bind_variables).map_err(status_from)?;
        let r = self
            .engine
            .execute(&q.sql, &vars, req.transaction_id, timeout)
            .await
            .map_err(status_from)?;
        Ok(Response::new(pb::ExecuteResponse {
            result: Some(result_to_pb(r)),
        }))
    }

    type StreamExecuteStream = BoxStream<pb::StreamExecuteResponse>;

    async fn stream_execute(
        &self,
        request: Request<pb::StreamExecuteRequest>,
    ) -> Result<Response<Self::StreamExecuteStream>, Status> {
        let req = request.into_inner();
        let timeout = timeout_of(req.options.as_ref());
        let q = query_of(req.query)?;
        let vars = bind_vars_from_pb(&q.bind_variables).map_err(status_from)?;
        let mut rx = self
            .engine
            .stream_execute(&q.sql, &vars, timeout)
            .map_err(status_from)?;
        // Hold the response until the result is complete or PREFIX_BYTES
        // of it are ready: hyper then writes the headers, the messages and
        // the trailers of a small result in one send instead of two (the
        // gate woke twice per point select). The messages are the same.
        let mut columns = Vec::new();
        let mut prefix = Vec::new();
        let mut bytes = 0;
        let mut ended = false;
        while bytes < PREFIX_BYTES {
            let Some(chunk) = rx.recv().await else {
                ended = true;
                break;
            };
            if let Ok(StreamChunk::Rows(rows)) = &chunk {
                bytes += rows
                    .iter()
                    .flatten()
                    .map(|c| c.as_ref().map_or(1, Vec::len))
                    .sum::<usize>();
            }
            let item = message(chunk, &mut columns);
            let failed = item.is_err();
            prefix.push(item);
            if failed {
                ended = true;
                break;
            }
        }
        let stream = async_stream::stream! {
            for item in prefix {
                yield item;
            }
            if ended {
                return;
            }
            while let Some(chunk) = rx.recv().await {
                let item = message(chunk, &mut columns);
                let failed = item.is_err();
                yield item;
                if failed {
                    break;
                }
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }

    async fn begin(
        &self,
        _request: Request<pb::BeginRequest>,
    ) -> Result<Response<pb::BeginResponse>, Status> {
        let id = self.engine.begin().await.map_err(status_from)?;
        Ok(Response::new(pb::BeginResponse { transaction_id: id }))
    }

    async fn commit(
        &self,
        request: Request<pb::CommitRequest>,
    ) -> Result<Response<pb::CommitResponse>, Status> {
        let id = request.into_inner().transaction_id;
        self.engine.commit(id).await.map_err(status_from)?;
        Ok(Response::new(pb::CommitResponse {}))
    }

    async fn rollback(
        &self,
        request: Request<pb::RollbackRequest>,
    ) -> Result<Response<pb::RollbackResponse>, Status> {
        let id = request.into_inner().transaction_id;
        self.engine.rollback(id).await.map_err(status_from)?;
        Ok(Response::new(pb::RollbackResponse {}))
    }

    async fn execute_batch(
        &self,
        request: Request<pb::ExecuteBatchRequest>,
    ) -> Result<Response<pb::ExecuteBatchResponse>, Status> {
        let req = request.into_inner();
        let timeout = timeout_of(req.options.as_ref());
        let queries = req
            .queries
            .iter()
            .map(|q| Ok((q.sql.clone(), bind_vars_from_pb(&q.bind_variables)?)))
            .collect::<Result<Vec<_>, Error>>()
            .map_err(status_from)?;
        let results = self
            .engine
            .execute_batch(&queries, req.as_transaction, req.transaction_id, timeout)
            .await
            .map_err(status_from)?;
        Ok(Response::new(pb::ExecuteBatchResponse {
            results: results.into_iter().map(result_to_pb).collect(),
        }))
    }

    type StreamHealthStream = BoxStream<pb::StreamHealthResponse>;

    async fn stream_health(
        &self,
        _request: Request<pb::StreamHealthRequest>,
    ) -> Result<Response<Self::StreamHealthStream>, Status> {
        let mut rx = self.health.subscribe();
        let stream = async_stream::stream! {
            let mut tick = tokio::time::interval(STREAM_INTERVAL);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    r = rx.changed() => if r.is_err() { break },
                }
                let snap = rx.borrow_and_update().clone();
                yield Ok(health_to_pb(&snap));
            }
        };
        Ok(Response::new(Box::pin(stream)))
    }
}
