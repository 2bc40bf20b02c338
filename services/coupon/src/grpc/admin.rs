//! CouponAdminService: templates, supplier code pools, bulk issue for print;
//! its lists are in `list.rs`, targeted issue in `target.rs`.

use std::{pin::Pin, sync::Arc};

use engine_proto::coupon::v1::{self as pb, coupon_admin_service_server::CouponAdminService};
use platform::domain::InvalidField;
use platform::{
    grpc::{invalid, respond, traced},
    store::db::Db,
};
use prost::Message;
use tokio_stream::Stream;
use tonic::{Request, Response, Status};

use super::{
    CouponShared,
    convert::{
        idempotency, job_to_proto, pool_to_proto, template_from_proto, template_to_proto,
        uuid_field,
    },
};
use crate::{
    domain::code::CouponCode,
    store::{MAX_IMPORT, MAX_JOB},
};

pub struct AdminApi<D: Db> {
    shared: Arc<CouponShared<D>>,
}

impl<D: Db> AdminApi<D> {
    pub fn new(shared: Arc<CouponShared<D>>) -> Self {
        Self { shared }
    }
}

/// Rows per CSV chunk of an export.
const EXPORT_PAGE: u32 = 2000;

type CsvStream = Pin<Box<dyn Stream<Item = Result<pb::CsvChunk, Status>> + Send>>;

#[tonic::async_trait]
impl<D: Db> CouponAdminService for AdminApi<D> {
    #[tracing::instrument(name = "CreateTemplate", skip_all, fields(outcome))]
    async fn create_template(
        &self,
        request: Request<pb::CreateTemplateRequest>,
    ) -> Result<Response<pb::CouponTemplate>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "CreateTemplate", req, |r| &mut r.idempotency_key)?;
                let spec = template_from_proto(req)?;
                let out = s
                    .coupons
                    .create_template(merchant, spec, &idem, s.clock.now_ms(), |t| {
                        template_to_proto(t).encode_to_vec()
                    })
                    .await?;
                respond(out, template_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetTemplate", skip_all, fields(outcome, template.id = %request.get_ref().template_id))]
    async fn get_template(
        &self,
        request: Request<pb::GetTemplateRequest>,
    ) -> Result<Response<pb::CouponTemplate>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("template_id", &request.get_ref().template_id)?;
                let t = s.coupons.get_template(merchant, &id).await?;
                Ok(Response::new(template_to_proto(&t)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ImportPoolCodes", skip_all, fields(outcome, codes = request.get_ref().codes.len()))]
    async fn import_pool_codes(
        &self,
        request: Request<pb::ImportPoolCodesRequest>,
    ) -> Result<Response<pb::CodePool>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "ImportPoolCodes", req, |r| &mut r.idempotency_key)?;
                let pool_id = match req.pool_id.trim() {
                    "" => None,
                    id => Some(uuid_field("pool_id", id)?),
                };
                let name = req.name.trim();
                if pool_id.is_none() && (name.is_empty() || name.chars().count() > 100) {
                    return Err(invalid(InvalidField::new(
                        "name",
                        "1..=100 characters for a new pool",
                    )));
                }
                if req.codes.is_empty() || req.codes.len() > MAX_IMPORT {
                    return Err(invalid(InvalidField::new(
                        "codes",
                        format!("1..={MAX_IMPORT} codes per call"),
                    )));
                }
                let mut codes = Vec::with_capacity(req.codes.len());
                for (i, c) in req.codes.iter().enumerate() {
                    let c = c.trim();
                    if c.is_empty() || c.len() > 128 || !c.bytes().all(|b| b.is_ascii_graphic()) {
                        return Err(invalid(InvalidField::new(
                            "codes",
                            format!("code {i}: 1..=128 printable ASCII characters"),
                        )));
                    }
                    codes.push(c.to_owned());
                }
                let out = s
                    .coupons
                    .import_pool_codes(
                        merchant,
                        pool_id.as_deref(),
                        name,
                        &codes,
                        &idem,
                        s.clock.now_ms(),
                        |p| pool_to_proto(p).encode_to_vec(),
                    )
                    .await?;
                respond(out, pool_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetCodePool", skip_all, fields(outcome))]
    async fn get_code_pool(
        &self,
        request: Request<pb::GetCodePoolRequest>,
    ) -> Result<Response<pb::CodePool>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("pool_id", &request.get_ref().pool_id)?;
                let p = s.coupons.get_pool(merchant, &id).await?;
                Ok(Response::new(pool_to_proto(&p)))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "StartBulkIssue", skip_all, fields(outcome, count = request.get_ref().count))]
    async fn start_bulk_issue(
        &self,
        request: Request<pb::StartBulkIssueRequest>,
    ) -> Result<Response<pb::BulkIssueJob>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin()?;
                let req = request.get_ref();
                let idem = idempotency(&who, "StartBulkIssue", req, |r| &mut r.idempotency_key)?;
                let template = uuid_field("template_id", &req.template_id)?;
                if !(1..=MAX_JOB).contains(&req.count) {
                    return Err(invalid(InvalidField::new(
                        "count",
                        format!("must be 1..={MAX_JOB}"),
                    )));
                }
                let out = s
                    .coupons
                    .start_bulk_issue(
                        merchant,
                        &template,
                        req.count,
                        &idem,
                        s.clock.now_ms(),
                        |j| job_to_proto(j).encode_to_vec(),
                    )
                    .await?;
                s.bulk_wakeup.notify_one();
                respond(out, job_to_proto)
            }
            .await,
        )
    }

    #[tracing::instrument(name = "GetBulkIssueJob", skip_all, fields(outcome))]
    async fn get_bulk_issue_job(
        &self,
        request: Request<pb::GetBulkIssueJobRequest>,
    ) -> Result<Response<pb::BulkIssueJob>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                let merchant = who.admin_or_auditor()?;
                let id = uuid_field("job_id", &request.get_ref().job_id)?;
                let j = s.coupons.get_job(merchant, &id).await?;
                Ok(Response::new(job_to_proto(&j)))
            }
            .await,
        )
    }

    type ExportBulkIssueCodesStream = CsvStream;

    #[tracing::instrument(name = "ExportBulkIssueCodes", skip_all, fields(outcome))]
    async fn export_bulk_issue_codes(
        &self,
        request: Request<pb::ExportBulkIssueCodesRequest>,
    ) -> Result<Response<Self::ExportBulkIssueCodesStream>, Status> {
        traced(
            async {
                let s = &self.shared;
                let who = s.auth.authenticate(request.metadata()).await?;
                // Printing codes is an admin act: auditors see counts only.
                let merchant = who.admin()?.to_owned();
                let id = uuid_field("job_id", &request.get_ref().job_id)?;
                // Refuse up front (not found, other merchant, not done).
                let first = s.coupons.job_codes(&merchant, &id, "", EXPORT_PAGE).await?;
                let coupons = s.coupons.clone();
                let (tx, rx) = tokio::sync::mpsc::channel(4);
                tokio::spawn(async move {
                    let mut page = first;
                    let mut header = true;
                    loop {
                        let mut csv = String::new();
                        if header {
                            csv.push_str("code,coupon_id,valid_from_ms,valid_until_ms\n");
                            header = false;
                        }
                        for (coupon_id, code, from, until) in &page {
                            let shown = CouponCode::parse(code)
                                .map(|c| c.display())
                                .unwrap_or_else(|_| code.clone());
                            csv.push_str(&format!("{shown},{coupon_id},{from},{until}\n"));
                        }
                        let last = page.last().map(|p| p.0.clone());
                        if tx
                            .send(Ok(pb::CsvChunk {
                                data: csv.into_bytes(),
                            }))
                            .await
                            .is_err()
                        {
                            return;
                        }
                        let Some(last) = last else { return };
                        if page.len() < EXPORT_PAGE as usize {
                            return;
                        }
                        page = match coupons.job_codes(&merchant, &id, &last, EXPORT_PAGE).await {
                            Ok(p) if p.is_empty() => return,
                            Ok(p) => p,
                            Err(e) => {
                                let _ = tx.send(Err(e.into())).await;
                                return;
                            }
                        };
                    }
                });
                let stream: CsvStream = Box::pin(tokio_stream::wrappers::ReceiverStream::new(rx));
                Ok(Response::new(stream))
            }
            .await,
        )
    }

    #[tracing::instrument(name = "ListTemplates", skip_all, fields(outcome))]
    async fn list_templates(
        &self,
        request: Request<pb::ListTemplatesRequest>,
    ) -> Result<Response<pb::ListTemplatesResponse>, Status> {
        traced(super::list::list_templates(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListCodePools", skip_all, fields(outcome))]
    async fn list_code_pools(
        &self,
        request: Request<pb::ListCodePoolsRequest>,
    ) -> Result<Response<pb::ListCodePoolsResponse>, Status> {
        traced(super::list::list_code_pools(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListBulkIssueJobs", skip_all, fields(outcome))]
    async fn list_bulk_issue_jobs(
        &self,
        request: Request<pb::ListBulkIssueJobsRequest>,
    ) -> Result<Response<pb::ListBulkIssueJobsResponse>, Status> {
        traced(super::list::list_bulk_issue_jobs(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListCoupons", skip_all, fields(outcome, template.id = %request.get_ref().template_id))]
    async fn list_coupons(
        &self,
        request: Request<pb::ListCouponsRequest>,
    ) -> Result<Response<pb::ListCouponsResponse>, Status> {
        traced(super::list::list_coupons(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListRedemptions", skip_all, fields(outcome))]
    async fn list_redemptions(
        &self,
        request: Request<pb::ListRedemptionsRequest>,
    ) -> Result<Response<pb::ListRedemptionsResponse>, Status> {
        traced(super::list::list_redemptions(&self.shared, request).await)
    }

    #[tracing::instrument(name = "CreateTargetedIssue", skip_all, fields(outcome, openids = request.get_ref().openids.len()))]
    async fn create_targeted_issue(
        &self,
        request: Request<pb::CreateTargetedIssueRequest>,
    ) -> Result<Response<pb::TargetedIssueJob>, Status> {
        traced(super::target::create(&self.shared, request).await)
    }

    #[tracing::instrument(name = "AppendTargetedIssue", skip_all, fields(outcome, openids = request.get_ref().openids.len()))]
    async fn append_targeted_issue(
        &self,
        request: Request<pb::AppendTargetedIssueRequest>,
    ) -> Result<Response<pb::TargetedIssueJob>, Status> {
        traced(super::target::append(&self.shared, request).await)
    }

    #[tracing::instrument(name = "StartTargetedIssue", skip_all, fields(outcome))]
    async fn start_targeted_issue(
        &self,
        request: Request<pb::StartTargetedIssueRequest>,
    ) -> Result<Response<pb::TargetedIssueJob>, Status> {
        traced(super::target::start(&self.shared, request).await)
    }

    #[tracing::instrument(name = "GetTargetedIssue", skip_all, fields(outcome))]
    async fn get_targeted_issue(
        &self,
        request: Request<pb::GetTargetedIssueRequest>,
    ) -> Result<Response<pb::TargetedIssueJob>, Status> {
        traced(super::target::get(&self.shared, request).await)
    }

    #[tracing::instrument(name = "ListTargetedIssueResults", skip_all, fields(outcome))]
    async fn list_targeted_issue_results(
        &self,
        request: Request<pb::ListTargetedIssueResultsRequest>,
    ) -> Result<Response<pb::ListTargetedIssueResultsResponse>, Status> {
        traced(super::target::list_results(&self.shared, request).await)
    }

    #[tracing::instrument(name = "GetStoreFigures", skip_all, fields(outcome))]
    async fn get_store_figures(
        &self,
        request: Request<pb::GetStoreFiguresRequest>,
    ) -> Result<Response<pb::StoreFigures>, Status> {
        traced(super::figures::get_store_figures(&self.shared, request).await)
    }
}
