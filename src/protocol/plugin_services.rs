//! go-plugin's side services: the controller (Shutdown), health for service "plugin", and the
//! optional stdio and broker streams, which this provider does not use (Unimplemented is what
//! go-plugin expects from plugins that do not).

use super::generated::health::{self, health_server::Health};
use super::generated::plugin::{
    self, grpc_broker_server::GrpcBroker, grpc_controller_server::GrpcController, grpc_stdio_server::GrpcStdio,
};
use std::pin::Pin;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status, Streaming};

type Stream<T> = Pin<Box<dyn futures::Stream<Item = Result<T, Status>> + Send + 'static>>;

/// Answers Shutdown and tells the server loop to exit.
pub struct Controller {
    pub shutdown: mpsc::Sender<()>,
}

#[tonic::async_trait]
impl GrpcController for Controller {
    async fn shutdown(&self, _: Request<plugin::Empty>) -> Result<Response<plugin::Empty>, Status> {
        tracing::debug!("shutdown requested by the client");
        let _ = self.shutdown.try_send(());
        Ok(Response::new(plugin::Empty {}))
    }
}

/// Health: go-plugin checks service "plugin"; the empty name means the server as a whole.
pub struct HealthService;

fn serving(service: &str) -> health::health_check_response::ServingStatus {
    use health::health_check_response::ServingStatus;
    match service {
        "" | "plugin" => ServingStatus::Serving,
        _ => ServingStatus::ServiceUnknown,
    }
}

#[tonic::async_trait]
impl Health for HealthService {
    async fn check(&self, req: Request<health::HealthCheckRequest>) -> Result<Response<health::HealthCheckResponse>, Status> {
        let status = serving(&req.into_inner().service);
        if status == health::health_check_response::ServingStatus::ServiceUnknown {
            return Err(Status::not_found("unknown service"));
        }
        Ok(Response::new(health::HealthCheckResponse { status: status as i32 }))
    }

    type WatchStream = Stream<health::HealthCheckResponse>;

    async fn watch(&self, req: Request<health::HealthCheckRequest>) -> Result<Response<Self::WatchStream>, Status> {
        // Our status never changes while the process lives: send it once, keep the stream open.
        let first = health::HealthCheckResponse { status: serving(&req.into_inner().service) as i32 };
        let stream = futures::stream::once(async move { Ok(first) }).chain(futures::stream::pending());
        Ok(Response::new(Box::pin(stream)))
    }
}

pub struct Stdio;

#[tonic::async_trait]
impl GrpcStdio for Stdio {
    type StreamStdioStream = Stream<plugin::StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        // Logs go straight to stderr, which go-plugin reads line by line.
        Err(Status::unimplemented("stdio is not streamed; logs are written to stderr"))
    }
}

pub struct Broker;

#[tonic::async_trait]
impl GrpcBroker for Broker {
    type StartStreamStream = Stream<plugin::ConnInfo>;

    async fn start_stream(&self, _: Request<Streaming<plugin::ConnInfo>>) -> Result<Response<Self::StartStreamStream>, Status> {
        Err(Status::unimplemented("this provider opens no extra connections"))
    }
}

use futures::StreamExt;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_serves_plugin_and_rejects_others() {
        let ok = HealthService.check(Request::new(health::HealthCheckRequest { service: "plugin".into() })).await.unwrap();
        assert_eq!(ok.into_inner().status, health::health_check_response::ServingStatus::Serving as i32);
        let err = HealthService.check(Request::new(health::HealthCheckRequest { service: "other".into() })).await.unwrap_err();
        assert_eq!(err.code(), tonic::Code::NotFound);
    }

    #[tokio::test]
    async fn shutdown_signals_the_server() {
        let (tx, mut rx) = mpsc::channel(1);
        Controller { shutdown: tx }.shutdown(Request::new(plugin::Empty {})).await.unwrap();
        assert!(rx.recv().await.is_some());
    }
}
