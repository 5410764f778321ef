//! The gRPC layer: tonic services that convert requests to domain types, delegate to [`App`],
//! and convert the answer back. No business logic lives here.

mod convert;
mod status;

use std::sync::Arc;
use std::time::Instant;

use tokio_stream::StreamExt;
use tonic::{Request, Response, Status};

pub use convert::contact_to_proto;

use crate::access::Acting;
use crate::app::App;
use crate::domain::{Grade, Outcome, public_message};
use crate::proto as p;
use crate::telemetry;

/// The Intake service: contacts in.
pub struct IntakeService(pub Arc<App>);

#[tonic::async_trait]
impl p::intake_server::Intake for IntakeService {
    #[tracing::instrument(name = "SubmitContact", skip_all, fields(reference))]
    async fn submit_contact(
        &self,
        req: Request<p::SubmitContactRequest>,
    ) -> Result<Response<p::SubmitContactResponse>, Status> {
        let started = Instant::now();
        let acting = Acting::of(&req);
        let raw = req.into_inner().contact;
        let channel = raw
            .as_ref()
            .and_then(|c| crate::domain::Channel::from_code(c.channel))
            .unwrap_or_default();
        let contact = convert::contact(raw, true)
            .inspect_err(|_| telemetry::contact_received(channel, "rejected"))?;
        acting.channel(contact.channel)?;
        let submitted = self.0.submit(contact, acting.sub()).await?;
        let i = &submitted.incident;
        tracing::Span::current().record("reference", i.reference.as_str());
        telemetry::submit_finished(started.elapsed());
        Ok(Response::new(p::SubmitContactResponse {
            public_message: public_message(&i.triage, Some(&i.reference)),
            incident: Some(
                if acting.own_contacts_only() && submitted.outcome == Outcome::Linked {
                    // Someone else's incident: a portal learns its reference, nothing more.
                    p::Incident {
                        reference: i.reference.clone(),
                        ..Default::default()
                    }
                } else {
                    convert::incident(i)
                },
            ),
            replayed: submitted.outcome == Outcome::Replayed,
            linked: submitted.outcome == Outcome::Linked,
        }))
    }

    #[tracing::instrument(name = "PreviewTriage", skip_all)]
    async fn preview_triage(
        &self,
        req: Request<p::PreviewTriageRequest>,
    ) -> Result<Response<p::PreviewTriageResponse>, Status> {
        let contact = convert::contact(req.into_inner().contact, false)?;
        let d = self.0.preview(&contact);
        Ok(Response::new(p::PreviewTriageResponse {
            public_message: public_message(&d.triage, None),
            triage: Some(convert::triage(&d.triage)),
            route: Some(convert::route(&d.route)),
        }))
    }

    #[tracing::instrument(name = "GetIncident", skip_all, fields(reference = %req.get_ref().reference))]
    async fn get_incident(
        &self,
        req: Request<p::GetIncidentRequest>,
    ) -> Result<Response<p::GetIncidentResponse>, Status> {
        let i = self.0.incident(&req.get_ref().reference).await?;
        Acting::of(&req).incident(&i)?;
        Ok(Response::new(p::GetIncidentResponse {
            incident: Some(convert::incident(&i)),
        }))
    }
}

/// The Dispatch service: desks work their queues.
pub struct DispatchService(pub Arc<App>);

#[tonic::async_trait]
impl p::dispatch_server::Dispatch for DispatchService {
    #[tracing::instrument(name = "ClaimNext", skip_all, fields(desk = %req.get_ref().desk, reference))]
    async fn claim_next(
        &self,
        req: Request<p::ClaimNextRequest>,
    ) -> Result<Response<p::ClaimNextResponse>, Status> {
        let acting = Acting::of(&req);
        let time_left = convert::time_left(req.metadata());
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let dispatcher = acting.name("dispatcher", &r.dispatcher)?;
        let claimed = self
            .0
            .claim_next(
                &r.desk,
                &dispatcher,
                r.lease_seconds,
                r.whole_incident,
                r.wait_seconds,
                time_left,
            )
            .await?;
        Ok(Response::new(match claimed {
            None => p::ClaimNextResponse::default(),
            Some((lease, incident)) => {
                tracing::Span::current().record("reference", incident.reference.as_str());
                p::ClaimNextResponse {
                    lease: Some(convert::lease(&lease)),
                    incident: Some(convert::incident(&incident)),
                }
            }
        }))
    }

    #[tracing::instrument(name = "Claim", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk))]
    async fn claim(
        &self,
        req: Request<p::ClaimRequest>,
    ) -> Result<Response<p::ClaimResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let dispatcher = acting.name("dispatcher", &r.dispatcher)?;
        let (lease, incident) = self
            .0
            .claim(&r.reference, &r.desk, &dispatcher, r.lease_seconds)
            .await?;
        Ok(Response::new(p::ClaimResponse {
            lease: Some(convert::lease(&lease)),
            incident: Some(convert::incident(&incident)),
        }))
    }

    #[tracing::instrument(name = "RenewLease", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk))]
    async fn renew_lease(
        &self,
        req: Request<p::RenewLeaseRequest>,
    ) -> Result<Response<p::RenewLeaseResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let lease = self
            .0
            .renew(
                &r.reference,
                &r.desk,
                r.token,
                r.lease_seconds,
                acting.actor(),
            )
            .await?;
        Ok(Response::new(p::RenewLeaseResponse {
            lease: Some(convert::lease(&lease)),
        }))
    }

    #[tracing::instrument(name = "Transfer", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk, to = %req.get_ref().to_desk))]
    async fn transfer(
        &self,
        req: Request<p::TransferRequest>,
    ) -> Result<Response<p::TransferResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let i = self
            .0
            .transfer(
                &r.reference,
                &r.desk,
                r.token,
                &r.to_desk,
                &r.reason,
                acting.actor(),
            )
            .await?;
        Ok(Response::new(p::TransferResponse {
            incident: Some(convert::incident(&i)),
        }))
    }

    #[tracing::instrument(name = "Regrade", skip_all, fields(reference = %req.get_ref().reference, grade = req.get_ref().grade))]
    async fn regrade(
        &self,
        req: Request<p::RegradeRequest>,
    ) -> Result<Response<p::RegradeResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        let by = acting.name("by", &r.by)?;
        let grade = Grade::from_code(r.grade)
            .filter(|g| *g != Grade::Unspecified)
            .ok_or_else(|| {
                crate::domain::Violations::one(
                    "grade",
                    format!("unknown grade {}; expected 1 to 4", r.grade),
                )
            })?;
        let i = self.0.regrade(&r.reference, grade, &by, &r.reason).await?;
        Ok(Response::new(p::RegradeResponse {
            incident: Some(convert::incident(&i)),
        }))
    }

    type WatchDeskStream =
        std::pin::Pin<Box<dyn tokio_stream::Stream<Item = Result<p::DeskEvent, Status>> + Send>>;

    #[tracing::instrument(name = "WatchDesk", skip_all, fields(desk = %req.get_ref().desk))]
    async fn watch_desk(
        &self,
        req: Request<p::WatchDeskRequest>,
    ) -> Result<Response<Self::WatchDeskStream>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let events = self.0.watch(&r.desk, &r.after_id).await?;
        let stream = tokio_stream::wrappers::ReceiverStream::new(events)
            .map(|e| e.map(|e| convert::desk_event(&e)).map_err(Status::from));
        Ok(Response::new(Box::pin(stream)))
    }

    #[tracing::instrument(name = "Complete", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk))]
    async fn complete(
        &self,
        req: Request<p::CompleteRequest>,
    ) -> Result<Response<p::CompleteResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let i = self
            .0
            .complete(&r.reference, &r.desk, r.token, &r.outcome, acting.actor())
            .await?;
        Ok(Response::new(p::CompleteResponse {
            incident: Some(convert::incident(&i)),
        }))
    }

    #[tracing::instrument(name = "CompleteAndClaimNext", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk, next))]
    async fn complete_and_claim_next(
        &self,
        req: Request<p::CompleteAndClaimNextRequest>,
    ) -> Result<Response<p::CompleteAndClaimNextResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let dispatcher = acting.name("dispatcher", &r.dispatcher)?;
        let next = self
            .0
            .complete_and_claim_next(
                &r.reference,
                &r.desk,
                r.token,
                &r.outcome,
                acting.actor(),
                &dispatcher,
                r.lease_seconds,
                r.whole_incident,
            )
            .await?;
        Ok(Response::new(match next {
            None => p::CompleteAndClaimNextResponse::default(),
            Some((lease, incident)) => {
                tracing::Span::current().record("next", incident.reference.as_str());
                p::CompleteAndClaimNextResponse {
                    lease: Some(convert::lease(&lease)),
                    incident: Some(convert::incident(&incident)),
                }
            }
        }))
    }

    #[tracing::instrument(name = "Release", skip_all, fields(reference = %req.get_ref().reference, desk = %req.get_ref().desk))]
    async fn release(
        &self,
        req: Request<p::ReleaseRequest>,
    ) -> Result<Response<p::ReleaseResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        self.0
            .release(&r.reference, &r.desk, r.token, &r.reason, acting.actor())
            .await?;
        Ok(Response::new(p::ReleaseResponse {}))
    }

    #[tracing::instrument(name = "ListQueue", skip_all, fields(desk = %req.get_ref().desk))]
    async fn list_queue(
        &self,
        req: Request<p::ListQueueRequest>,
    ) -> Result<Response<p::ListQueueResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        acting.desk(&r.desk)?;
        let (entries, depth) = self.0.list_queue(&r.desk, r.limit).await?;
        Ok(Response::new(p::ListQueueResponse {
            entries: entries.iter().map(convert::queue_entry).collect(),
            depth,
        }))
    }
}

/// The Operations service: supervisors and the operations room.
pub struct OperationsService(pub Arc<App>);

#[tonic::async_trait]
impl p::operations_server::Operations for OperationsService {
    #[tracing::instrument(name = "SetDeskStatus", skip_all, fields(desk = %req.get_ref().desk, open = req.get_ref().open))]
    async fn set_desk_status(
        &self,
        req: Request<p::SetDeskStatusRequest>,
    ) -> Result<Response<p::SetDeskStatusResponse>, Status> {
        let acting = Acting::of(&req);
        let r = req.into_inner();
        self.0
            .set_desk_status(&r.desk, r.open, &r.reason, acting.sub())
            .await?;
        Ok(Response::new(p::SetDeskStatusResponse {}))
    }

    #[tracing::instrument(name = "GetQueueStats", skip_all)]
    async fn get_queue_stats(
        &self,
        _req: Request<p::GetQueueStatsRequest>,
    ) -> Result<Response<p::GetQueueStatsResponse>, Status> {
        let stats = self.0.desk_stats().await?;
        Ok(Response::new(p::GetQueueStatsResponse {
            desks: stats.iter().map(convert::desk_stats).collect(),
        }))
    }

    #[tracing::instrument(name = "ReloadConfig", skip_all)]
    async fn reload_config(
        &self,
        _req: Request<p::ReloadConfigRequest>,
    ) -> Result<Response<p::ReloadConfigResponse>, Status> {
        let (types, desks) = self.0.reload()?;
        Ok(Response::new(p::ReloadConfigResponse {
            incident_types: types as u32,
            desks: desks as u32,
        }))
    }
}
