//! InvokeAction: the action runs on its own task; its progress lines reach the CLI while it
//! runs and its diagnostics close the stream.

use super::{decode, Server};
use crate::framework::diagnostics::Diagnostics;
use crate::framework::provider::Provider;
use futures::stream::BoxStream;

pub enum ActionEvent {
    Progress(String),
    Completed(Diagnostics),
}

impl<P: Provider> Server<P> {
    pub async fn invoke_action(&self, type_name: &str, config: Option<&super::DynamicValue>) -> BoxStream<'static, ActionEvent> {
        let prepared = async {
            let entry = self.action(type_name)?;
            let config = decode(config, &entry.ty)?;
            Ok::<_, Diagnostics>((entry.imp.clone(), config, self.configured_client().await?))
        };
        let (action, config, client) = match prepared.await {
            Ok(ready) => ready,
            Err(d) => return Box::pin(futures::stream::iter([ActionEvent::Completed(d)])),
        };
        let (tx, rx) = futures::channel::mpsc::unbounded();
        tokio::spawn(async move {
            let progress_tx = tx.clone();
            let progress = move |message: String| {
                let _ = progress_tx.unbounded_send(ActionEvent::Progress(message));
            };
            let diags = action.invoke(&client, &config, &progress).await;
            let _ = tx.unbounded_send(ActionEvent::Completed(diags));
        });
        Box::pin(rx)
    }
}
