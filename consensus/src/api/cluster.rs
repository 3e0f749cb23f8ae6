//! etcd's Cluster service: member list/add/remove/promote.
//!
//! MemberUpdate (changing a member's peer URLs) is not supported: peer
//! addresses are fixed at `vitrail control` start-up.

use etcd_client::proto::{
    PbClusterService, PbMemberAddRequest, PbMemberAddResponse, PbMemberListRequest,
    PbMemberListResponse, PbMemberPromoteRequest, PbMemberPromoteResponse, PbMemberRemoveRequest,
    PbMemberRemoveResponse, PbMemberUpdateRequest, PbMemberUpdateResponse, PbResponseHeader,
};
use tonic::{Request, Response, Status};

use super::error::Rejected;
use super::{convert, EtcdApi};
use crate::node::MemberInfo;

/// etcd's `types.NewURLs` rules for peer URLs: at least one; each
/// `scheme://host:port` with scheme http, https, unix or unixs and no path.
fn check_peer_urls(urls: &[String]) -> Result<(), Rejected> {
    if urls.is_empty() {
        return Err(Rejected::MemberBadUrls);
    }
    for url in urls {
        let (scheme, rest) = url.split_once("://").ok_or(Rejected::MemberBadUrls)?;
        if !matches!(scheme, "http" | "https" | "unix" | "unixs") {
            return Err(Rejected::MemberBadUrls);
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains('/') || authority.contains('?') || authority.contains('#') {
            return Err(Rejected::MemberBadUrls);
        }
        let (host, port) = authority.rsplit_once(':').ok_or(Rejected::MemberBadUrls)?;
        if host.is_empty() || port.parse::<u16>().is_err() {
            return Err(Rejected::MemberBadUrls);
        }
    }
    Ok(())
}

fn members(list: Vec<MemberInfo>) -> Vec<etcd_client::proto::PbMember> {
    list.into_iter().map(convert::member).collect()
}

impl EtcdApi {
    fn cluster_header(&self) -> Option<PbResponseHeader> {
        Some(convert::header(self.current_header()))
    }
}

#[tonic::async_trait]
impl PbClusterService for EtcdApi {
    async fn member_add(
        &self,
        request: Request<PbMemberAddRequest>,
    ) -> Result<Response<PbMemberAddResponse>, Status> {
        let req = request.into_inner();
        check_peer_urls(&req.peer_ur_ls)?;
        let (member, list) = self.node.member_add(req.peer_ur_ls, req.is_learner).await?;
        Ok(Response::new(PbMemberAddResponse {
            header: self.cluster_header(),
            member: Some(convert::member(member)),
            members: members(list),
        }))
    }

    async fn member_remove(
        &self,
        request: Request<PbMemberRemoveRequest>,
    ) -> Result<Response<PbMemberRemoveResponse>, Status> {
        let list = self.node.member_remove(request.into_inner().id).await?;
        Ok(Response::new(PbMemberRemoveResponse {
            header: self.cluster_header(),
            members: members(list),
        }))
    }

    async fn member_update(
        &self,
        _request: Request<PbMemberUpdateRequest>,
    ) -> Result<Response<PbMemberUpdateResponse>, Status> {
        Err(Rejected::Unsupported("MemberUpdate (peer URLs are fixed at start-up)").into())
    }

    async fn member_list(
        &self,
        _request: Request<PbMemberListRequest>,
    ) -> Result<Response<PbMemberListResponse>, Status> {
        let list = self.node.members().await?;
        Ok(Response::new(PbMemberListResponse {
            header: self.cluster_header(),
            members: members(list),
        }))
    }

    async fn member_promote(
        &self,
        request: Request<PbMemberPromoteRequest>,
    ) -> Result<Response<PbMemberPromoteResponse>, Status> {
        let list = self.node.member_promote(request.into_inner().id).await?;
        Ok(Response::new(PbMemberPromoteResponse {
            header: self.cluster_header(),
            members: members(list),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn peer_urls_are_checked_like_etcd() {
        assert!(check_peer_urls(&urls(&["http://127.0.0.1:2380"])).is_ok());
        assert!(check_peer_urls(&urls(&["https://10.0.0.1:2380/", "http://[::1]:2380"])).is_ok());
        for bad in [
            &[][..],
            &["127.0.0.1:2380"][..],
            &["ftp://127.0.0.1:2380"][..],
            &["http://127.0.0.1"][..],
            &["http://127.0.0.1:2380/path"][..],
            &["http://:2380"][..],
            &["http://127.0.0.1:port"][..],
        ] {
            assert_eq!(
                check_peer_urls(&urls(bad)),
                Err(Rejected::MemberBadUrls),
                "{bad:?}"
            );
        }
    }
}
