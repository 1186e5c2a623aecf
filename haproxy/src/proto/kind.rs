//! [`CommandKind`]: one fieldless kind per [`Command`] variant, with the complete list.
//!
//! The list is written once (in the macro call below) and both the enum and
//! [`CommandKind::ALL`] come from it; [`Command::kind`] is an exhaustive match, so a new
//! `Command` variant does not compile until it has a kind, and then it is in `ALL` — where
//! the live test `integration/tests/it/commands.rs` looks for it.

use super::command::Command;

macro_rules! command_kinds {
    ($($kind:ident),+ $(,)?) => {
        /// Which [`Command`] variant a command is, without its arguments.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum CommandKind {
            $(
                #[doc = concat!("[`Command::", stringify!($kind), "`]")]
                $kind,
            )+
        }

        impl CommandKind {
            /// Every kind, in declaration order.
            pub const ALL: &'static [CommandKind] = &[$(CommandKind::$kind),+];
        }
    };
}

command_kinds!(
    ShowVersion,
    ShowInfo,
    ShowStat,
    ShowStatServers,
    ShowBackend,
    ShowServersState,
    ShowServersConn,
    AddServer,
    DelServer,
    SetServerState,
    SetServerAddr,
    SetServerWeight,
    GetWeight,
    EnableHealth,
    ShutdownSessionsServer,
    ShowMaps,
    ShowMap,
    AddMap,
    AddMapBulk,
    SetMap,
    DelMap,
    ClearMap,
    PrepareMap,
    CommitMap,
    GetMap,
    ShowAcl,
    AddAcl,
    DelAcl,
    ClearAcl,
    SetSslCert,
    CommitSslCert,
    AbortSslCert,
    NewSslCert,
    DelSslCert,
    AddSslCrtList,
    DelSslCrtList,
    DelSslCrtListLine,
    ShowSslCert,
    ShowSslCrtList,
    NewSslCa,
    SetSslCa,
    CommitSslCa,
    AbortSslCa,
    DelSslCa,
    ShowSslCa,
);

impl Command {
    /// This command's kind.
    pub fn kind(&self) -> CommandKind {
        use CommandKind as K;
        match self {
            Command::ShowVersion => K::ShowVersion,
            Command::ShowInfo => K::ShowInfo,
            Command::ShowStat => K::ShowStat,
            Command::ShowStatServers(_) => K::ShowStatServers,
            Command::ShowBackend => K::ShowBackend,
            Command::ShowServersState(_) => K::ShowServersState,
            Command::ShowServersConn(_) => K::ShowServersConn,
            Command::AddServer(_) => K::AddServer,
            Command::DelServer(_) => K::DelServer,
            Command::SetServerState(..) => K::SetServerState,
            Command::SetServerAddr(..) => K::SetServerAddr,
            Command::SetServerWeight(..) => K::SetServerWeight,
            Command::GetWeight(_) => K::GetWeight,
            Command::EnableHealth(_) => K::EnableHealth,
            Command::ShutdownSessionsServer(_) => K::ShutdownSessionsServer,
            Command::ShowMaps => K::ShowMaps,
            Command::ShowMap(_) => K::ShowMap,
            Command::AddMap(..) => K::AddMap,
            Command::AddMapBulk(..) => K::AddMapBulk,
            Command::SetMap(..) => K::SetMap,
            Command::DelMap(..) => K::DelMap,
            Command::ClearMap(_) => K::ClearMap,
            Command::PrepareMap(_) => K::PrepareMap,
            Command::CommitMap(..) => K::CommitMap,
            Command::GetMap(..) => K::GetMap,
            Command::ShowAcl(_) => K::ShowAcl,
            Command::AddAcl(..) => K::AddAcl,
            Command::DelAcl(..) => K::DelAcl,
            Command::ClearAcl(_) => K::ClearAcl,
            Command::SetSslCert(..) => K::SetSslCert,
            Command::CommitSslCert(_) => K::CommitSslCert,
            Command::AbortSslCert(_) => K::AbortSslCert,
            Command::NewSslCert(_) => K::NewSslCert,
            Command::DelSslCert(_) => K::DelSslCert,
            Command::AddSslCrtList(..) => K::AddSslCrtList,
            Command::DelSslCrtList(..) => K::DelSslCrtList,
            Command::DelSslCrtListLine(..) => K::DelSslCrtListLine,
            Command::ShowSslCert(_) => K::ShowSslCert,
            Command::ShowSslCrtList(_) => K::ShowSslCrtList,
            Command::NewSslCa(..) => K::NewSslCa,
            Command::SetSslCa(..) => K::SetSslCa,
            Command::CommitSslCa(..) => K::CommitSslCa,
            Command::AbortSslCa(..) => K::AbortSslCa,
            Command::DelSslCa(..) => K::DelSslCa,
            Command::ShowSslCa(_) => K::ShowSslCa,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn all_lists_each_kind_once() {
        let set: BTreeSet<_> = CommandKind::ALL.iter().collect();
        assert_eq!(set.len(), CommandKind::ALL.len());
        assert_eq!(Command::ShowVersion.kind(), CommandKind::ShowVersion);
    }
}
