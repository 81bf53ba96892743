//! Every user-visible string, in Chinese (the default) and English.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Lang {
    Zh,
    En,
}

impl Lang {
    pub fn other(self) -> Lang {
        match self {
            Lang::Zh => Lang::En,
            Lang::En => Lang::Zh,
        }
    }

    /// The `lang` attribute of the document.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Zh => "zh-CN",
            Lang::En => "en",
        }
    }

    /// The label of the switch that changes *to* this language.
    pub fn switch_label(self) -> &'static str {
        match self {
            Lang::Zh => "中文",
            Lang::En => "English",
        }
    }
}

/// A message key. One variant per string; `tr` gives its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Msg {
    AppName,
    AppTagline,
    Username,
    Password,
    LogIn,
    LoggingIn,
    LogOut,
    LoginFailed,
    NetworkError,
    SignedInAs,
    SwitchLanguage,
    RoleOffice,
    RoleDepartment,
    RoleUnit,
    RoleViewer,
    NoItemsYet,
    MyItems,
    Loading,
    Deadline,
    Overdue,
    ItemsCount,
}

pub fn tr(lang: Lang, msg: Msg) -> &'static str {
    use Msg::*;
    match (lang, msg) {
        (Lang::Zh, AppName) => "巡察整改",
        (Lang::En, AppName) => "Rectify",
        (Lang::Zh, AppTagline) => "整改一个销号一个，没整改到位绝不销号",
        (Lang::En, AppTagline) => "Close each item only when it is really done",
        (Lang::Zh, Username) => "用户名",
        (Lang::En, Username) => "Username",
        (Lang::Zh, Password) => "密码",
        (Lang::En, Password) => "Password",
        (Lang::Zh, LogIn) => "登录",
        (Lang::En, LogIn) => "Log in",
        (Lang::Zh, LoggingIn) => "正在登录…",
        (Lang::En, LoggingIn) => "Logging in…",
        (Lang::Zh, LogOut) => "退出",
        (Lang::En, LogOut) => "Log out",
        (Lang::Zh, LoginFailed) => "用户名或密码不正确",
        (Lang::En, LoginFailed) => "Wrong username or password",
        (Lang::Zh, NetworkError) => "无法连接服务器，请检查网络后重试",
        (Lang::En, NetworkError) => "Cannot reach the server; check the connection and try again",
        (Lang::Zh, SignedInAs) => "当前用户",
        (Lang::En, SignedInAs) => "Signed in as",
        (Lang::Zh, SwitchLanguage) => "切换语言",
        (Lang::En, SwitchLanguage) => "Switch language",
        (Lang::Zh, RoleOffice) => "领导小组办公室",
        (Lang::En, RoleOffice) => "Leading-group office",
        (Lang::Zh, RoleDepartment) => "股室",
        (Lang::En, RoleDepartment) => "Department",
        (Lang::Zh, RoleUnit) => "学校/幼儿园",
        (Lang::En, RoleUnit) => "School",
        (Lang::Zh, RoleViewer) => "查看",
        (Lang::En, RoleViewer) => "Viewer",
        (Lang::Zh, NoItemsYet) => "暂无整改事项",
        (Lang::En, NoItemsYet) => "No rectification items yet",
        (Lang::Zh, MyItems) => "整改事项",
        (Lang::En, MyItems) => "Rectification items",
        (Lang::Zh, Loading) => "正在加载…",
        (Lang::En, Loading) => "Loading…",
        (Lang::Zh, Deadline) => "整改时限",
        (Lang::En, Deadline) => "Deadline",
        (Lang::Zh, Overdue) => "已逾期",
        (Lang::En, Overdue) => "Overdue",
        (Lang::Zh, ItemsCount) => "项",
        (Lang::En, ItemsCount) => "items",
    }
}

pub fn role_name(lang: Lang, role: rectify_shared::policy::Role) -> &'static str {
    use rectify_shared::policy::Role;
    tr(
        lang,
        match role {
            Role::Office => Msg::RoleOffice,
            Role::Department => Msg::RoleDepartment,
            Role::Unit => Msg::RoleUnit,
            Role::Viewer => Msg::RoleViewer,
        },
    )
}

/// The public status in the UI's language.
pub fn status_name(lang: Lang, status: rectify_shared::status::PublicStatus) -> &'static str {
    use rectify_shared::status::PublicStatus;
    match (lang, status) {
        (Lang::Zh, s) => s.wording(),
        (Lang::En, PublicStatus::Done) => "Done",
        (Lang::En, PublicStatus::DoneLongTerm) => "Done, kept up long-term",
        (Lang::En, PublicStatus::InProgress) => "In progress",
    }
}
