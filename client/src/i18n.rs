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
    LocalStoreFailed,
    StateOffline,
    StateSyncing,
    StateSynced,
    StatePending,
    StateError,
    SessionExpired,
    LogInAgain,
    LastSynced,
    Never,
    Unsynced,
    WaitingForItems,
    BackToList,
    Problem,
    Measures,
    MyProgress,
    ProgressHint,
    UnitStatusLabel,
    RequestSignOff,
    StartWork,
    Withdraw,
    Feedback,
    FeedbackPlaceholder,
    Send,
    NoFeedback,
    Decisions,
    SignedOff,
    Returned,
    Reason,
    Conflict,
    SetBy,
    ItemNotHere,
    RefusedTitle,
    RefusedNoLongerYours,
    RefusedByServer,
    YourText,
    Copy,
    Dismiss,
    Evidence,
    TakePhoto,
    PickFiles,
    Caption,
    EvidenceHint,
    SpaceUsed,
    Preparing,
    NoEvidence,
    FileKindRefused,
    FileTooLarge,
    SizeLimit,
    FileUnreadable,
    FileAlreadyAdded,
    FileNotSaved,
    UploadQueued,
    UploadUploading,
    UploadPaused,
    UploadDone,
    UploadFailed,
    Pause,
    Resume,
    Retry,
    Remove,
    ConfirmRemove,
    Cancel,
    FilesWaiting,
    OpenFailed,
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
        (Lang::Zh, LocalStoreFailed) => "本机存储不可用：",
        (Lang::En, LocalStoreFailed) => "Local storage is not available: ",
        (Lang::Zh, StateOffline) => "离线",
        (Lang::En, StateOffline) => "Offline",
        (Lang::Zh, StateSyncing) => "正在同步…",
        (Lang::En, StateSyncing) => "Syncing…",
        (Lang::Zh, StateSynced) => "已全部同步",
        (Lang::En, StateSynced) => "All synced",
        (Lang::Zh, StatePending) => "条更改待同步",
        (Lang::En, StatePending) => "changes waiting",
        (Lang::Zh, StateError) => "同步出错",
        (Lang::En, StateError) => "Sync error",
        (Lang::Zh, SessionExpired) => "登录已过期，请重新登录（本机数据不会丢失）",
        (Lang::En, SessionExpired) => {
            "Your login has expired: log in again (nothing on this device is lost)"
        }
        (Lang::Zh, LogInAgain) => "重新登录",
        (Lang::En, LogInAgain) => "Log in again",
        (Lang::Zh, LastSynced) => "上次同步",
        (Lang::En, LastSynced) => "Last synced",
        (Lang::Zh, Never) => "从未",
        (Lang::En, Never) => "never",
        (Lang::Zh, Unsynced) => "有未同步的更改",
        (Lang::En, Unsynced) => "Has unsynced changes",
        (Lang::Zh, WaitingForItems) => "正在下载整改事项…",
        (Lang::En, WaitingForItems) => "Downloading items…",
        (Lang::Zh, BackToList) => "返回列表",
        (Lang::En, BackToList) => "Back to the list",
        (Lang::Zh, Problem) => "存在问题",
        (Lang::En, Problem) => "Problem",
        (Lang::Zh, Measures) => "整改措施",
        (Lang::En, Measures) => "Measures",
        (Lang::Zh, MyProgress) => "本单位整改情况",
        (Lang::En, MyProgress) => "Our progress",
        (Lang::Zh, ProgressHint) => "离线也可填写，联网后自动同步",
        (Lang::En, ProgressHint) => "Works offline; syncs by itself when online",
        (Lang::Zh, UnitStatusLabel) => "本单位状态",
        (Lang::En, UnitStatusLabel) => "Our status",
        (Lang::Zh, RequestSignOff) => "申请销号",
        (Lang::En, RequestSignOff) => "Request sign-off",
        (Lang::Zh, StartWork) => "开始整改",
        (Lang::En, StartWork) => "Start work",
        (Lang::Zh, Withdraw) => "撤回申请",
        (Lang::En, Withdraw) => "Withdraw request",
        (Lang::Zh, Feedback) => "反馈与回复",
        (Lang::En, Feedback) => "Feedback",
        (Lang::Zh, FeedbackPlaceholder) => "给领导小组办公室留言…",
        (Lang::En, FeedbackPlaceholder) => "A message to the office…",
        (Lang::Zh, Send) => "发送",
        (Lang::En, Send) => "Send",
        (Lang::Zh, NoFeedback) => "暂无反馈",
        (Lang::En, NoFeedback) => "No messages yet",
        (Lang::Zh, Decisions) => "办公室意见",
        (Lang::En, Decisions) => "The office's decisions",
        (Lang::Zh, SignedOff) => "已销号",
        (Lang::En, SignedOff) => "Signed off",
        (Lang::Zh, Returned) => "已退回",
        (Lang::En, Returned) => "Sent back",
        (Lang::Zh, Reason) => "理由",
        (Lang::En, Reason) => "Reason",
        (Lang::Zh, Conflict) => "状态有冲突：",
        (Lang::En, Conflict) => "Conflicting statuses: ",
        (Lang::Zh, SetBy) => "设置者",
        (Lang::En, SetBy) => "set by",
        (Lang::Zh, ItemNotHere) => "此事项不在本机上（可能已不再分配给本单位）",
        (Lang::En, ItemNotHere) => {
            "This item is not on this device (it may no longer be assigned to you)"
        }
        (Lang::Zh, RefusedTitle) => "未能同步的更改",
        (Lang::En, RefusedTitle) => "Changes the server refused",
        (Lang::Zh, RefusedNoLongerYours) => "此事项已不再分配给本单位，您的修改未被接受。",
        (Lang::En, RefusedNoLongerYours) => {
            "This item is no longer assigned to your unit; your changes were not accepted."
        }
        (Lang::Zh, RefusedByServer) => "服务器拒绝了此修改：",
        (Lang::En, RefusedByServer) => "The server refused this change: ",
        (Lang::Zh, YourText) => "您填写的内容（可复制保存）：",
        (Lang::En, YourText) => "What you wrote (copy it to keep it):",
        (Lang::Zh, Copy) => "复制",
        (Lang::En, Copy) => "Copy",
        (Lang::Zh, Dismiss) => "知道了",
        (Lang::En, Dismiss) => "Dismiss",
        (Lang::Zh, Evidence) => "佐证材料",
        (Lang::En, Evidence) => "Evidence",
        (Lang::Zh, TakePhoto) => "拍照",
        (Lang::En, TakePhoto) => "Take a photo",
        (Lang::Zh, PickFiles) => "选择文件",
        (Lang::En, PickFiles) => "Choose files",
        (Lang::Zh, Caption) => "文件说明（可选）",
        (Lang::En, Caption) => "Caption (optional)",
        (Lang::Zh, EvidenceHint) => {
            "说明用于接下来添加的文件。照片在本机压缩；离线也可添加，联网后自动上传。单个文件上限"
        }
        (Lang::En, EvidenceHint) => {
            "The caption goes with the next files you add. Photos are compressed on this device; works offline, uploads when online. Largest file:"
        }
        (Lang::Zh, SpaceUsed) => "已用空间",
        (Lang::En, SpaceUsed) => "Space used",
        (Lang::Zh, Preparing) => "正在处理文件…",
        (Lang::En, Preparing) => "Preparing files…",
        (Lang::Zh, NoEvidence) => "暂无佐证材料",
        (Lang::En, NoEvidence) => "No evidence yet",
        (Lang::Zh, FileKindRefused) => "不支持此类文件（仅限照片、PDF、Word、Excel、PPT）：",
        (Lang::En, FileKindRefused) => {
            "This kind of file is not accepted (photos, PDF, Word, Excel, PowerPoint only): "
        }
        (Lang::Zh, FileTooLarge) => "文件过大：",
        (Lang::En, FileTooLarge) => "File too large: ",
        (Lang::Zh, SizeLimit) => "上限",
        (Lang::En, SizeLimit) => "limit",
        (Lang::Zh, FileUnreadable) => "无法读取文件：",
        (Lang::En, FileUnreadable) => "Cannot read the file: ",
        (Lang::Zh, FileAlreadyAdded) => "已添加过此文件：",
        (Lang::En, FileAlreadyAdded) => "Already added: ",
        (Lang::Zh, FileNotSaved) => "未能保存到本机：",
        (Lang::En, FileNotSaved) => "Could not save it on this device: ",
        (Lang::Zh, UploadQueued) => "等待上传",
        (Lang::En, UploadQueued) => "Waiting to upload",
        (Lang::Zh, UploadUploading) => "上传中",
        (Lang::En, UploadUploading) => "Uploading",
        (Lang::Zh, UploadPaused) => "已暂停",
        (Lang::En, UploadPaused) => "Paused",
        (Lang::Zh, UploadDone) => "已上传",
        (Lang::En, UploadDone) => "Uploaded",
        (Lang::Zh, UploadFailed) => "上传失败：",
        (Lang::En, UploadFailed) => "Upload failed: ",
        (Lang::Zh, Pause) => "暂停",
        (Lang::En, Pause) => "Pause",
        (Lang::Zh, Resume) => "继续",
        (Lang::En, Resume) => "Resume",
        (Lang::Zh, Retry) => "重试",
        (Lang::En, Retry) => "Retry",
        (Lang::Zh, Remove) => "删除",
        (Lang::En, Remove) => "Remove",
        (Lang::Zh, ConfirmRemove) => "确认删除",
        (Lang::En, ConfirmRemove) => "Confirm removal",
        (Lang::Zh, Cancel) => "取消",
        (Lang::En, Cancel) => "Cancel",
        (Lang::Zh, FilesWaiting) => "个文件待上传",
        (Lang::En, FilesWaiting) => "files waiting to upload",
        (Lang::Zh, OpenFailed) => "无法打开文件（离线或已无权查看）：",
        (Lang::En, OpenFailed) => "Cannot open the file (offline, or no longer yours to see): ",
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

/// A unit's status in the UI's language.
pub fn unit_status_name(lang: Lang, status: rectify_shared::workflow::UnitStatus) -> &'static str {
    use rectify_shared::workflow::UnitStatus;
    match (lang, status) {
        (Lang::Zh, s) => s.label_zh(),
        (Lang::En, UnitStatus::NotStarted) => "Not started",
        (Lang::En, UnitStatus::InProgress) => "In progress",
        (Lang::En, UnitStatus::Submitted) => "Sign-off requested",
        (Lang::En, UnitStatus::Returned) => "Sent back",
        (Lang::En, UnitStatus::SignedOff) => "Signed off",
    }
}

/// How an item is to be fixed (整改方式) in the UI's language.
pub fn timing_name(lang: Lang, timing: rectify_shared::model::Timing) -> &'static str {
    use rectify_shared::model::Timing;
    match (lang, timing) {
        (Lang::Zh, t) => t.label_zh(),
        (Lang::En, Timing::Immediate) => "Fix at once",
        (Lang::En, Timing::ByDeadline) => "Fix by the deadline",
        (Lang::En, Timing::LongTerm) => "Keep up long-term",
    }
}

/// Declares a message enum and its lookup from one table of (key, Chinese, English), so a
/// string and its translation are always written side by side.
macro_rules! messages {
    ($name:ident, $lookup:ident { $($key:ident => $zh:literal, $en:literal;)* }) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name { $($key,)* }

        pub fn $lookup(lang: Lang, msg: $name) -> &'static str {
            match (lang, msg) {
                $((Lang::Zh, $name::$key) => $zh, (Lang::En, $name::$key) => $en,)*
            }
        }
    };
}

messages!(Om, to {
    NavLabel => "页面", "Pages";
    NavDashboard => "总览", "Dashboard";
    NavItems => "问题清单", "Items";
    NavSupervise => "督办", "Supervise";
    NavReports => "报告", "Reports";
    NavAccounts => "单位与账号", "Accounts";
    Forbidden => "您的账号无权查看此页面。", "Your account may not open this page.";
    All => "全部", "All";
    Filters => "筛选", "Filters";
    Search => "搜索", "Search";
    SearchHint => "问题内容或编号", "Words or number";
    Unit => "单位", "Unit";
    Units => "责任单位", "Units";
    Department => "责任部门", "Department";
    Area => "方面", "Area";
    Status => "状态", "Status";
    DueBy => "时限截至", "Due by";
    Overdue => "已逾期", "Overdue";
    AtRisk => "临期", "Due soon";
    AwaitingReview => "待审核销号", "Awaiting sign-off";
    Total => "合计", "Total";
    Totals => "整体情况", "Totals";
    CompletionRate => "完成率", "Completion";
    ByArea => "各方面整改情况", "By area";
    ByUnit => "各单位进度", "Progress by unit";
    ByDepartment => "各责任部门进度", "Progress by department";
    Assigned => "承担", "Assigned";
    SignedOffShare => "销号率", "Signed off";
    ShowAll => "显示全部", "Show all";
    ShowFewer => "收起", "Show fewer";
    NothingWaiting => "暂无待审核事项。", "Nothing is waiting.";
    None => "暂无。", "None.";
    OverdueItems => "逾期事项", "Overdue items";
    AtRiskItems => "临期事项（7天内到期）", "Due within 7 days";
    RecentActivity => "最新动态", "Recent activity";
    MatchingItems => "事项", "Items";
    SuperviseHint => "各单位尚未完成、已逾期或 7 天内到期的事项（已申请销号的不列入）。",
        "Each unit's unfinished items that are overdue or due within 7 days (those asking for sign-off are left out).";
    NothingToChase => "没有需要督办的事项。", "Nothing to chase.";
    ChaseNotice => "督办通知", "Chase notice";
    Print => "打印", "Print";
    NoticeTitle => "巡察整改督办通知", "Notice: rectification items to finish";
    NoticeTo => "：", ":";
    NoticeBody => "经核查，你单位承担的下列巡察整改事项已逾期或即将到期，尚未申请销号。请对照整改措施抓紧落实，并在系统中如实填写整改情况、上传佐证材料，按时申请销号。",
        "The following rectification items assigned to your unit are overdue or due soon and not yet submitted for sign-off. Please complete the measures, record the progress and evidence in the system, and ask for sign-off on time.";
    NoticeClosing => "整改一个销号一个，没整改到位绝不销号。", "Each item is closed only when it is really done.";
    NoticeSigner => "巡察整改落实工作领导小组办公室", "Rectification office";
    Number => "编号", "No.";
    ProblemCol => "存在问题", "Problem";
    DeadlineCol => "整改时限", "Deadline";
    ReasonNeeded => "退回需要填写理由。", "Sending back needs a reason.";
    ReasonHint => "退回理由（退回时必填）", "Reason (needed to send back)";
    LastChange => "最近更新", "Last change";
    MeasuresDone => "已落实措施", "Measures done";
    NoNarrative => "尚未填写整改情况。", "No progress written yet.";
    SignOff => "销号", "Sign off";
    SendBack => "退回", "Send back";
    MarkAs => "标记为", "Mark as ";
    PublicStatus => "整改进度（报告）", "Status in the report";
    Plan => "责任分工", "Plan";
    Leader => "责任领导", "Leader";
    Timing => "整改方式", "Timing";
    EditPlan => "调整分工", "Edit plan";
    UnitsNeeded => "至少选择一个责任单位。", "Choose at least one unit.";
    Save => "保存", "Save";
    Saved => "已保存", "saved";
    History => "修改记录", "History";
    HistoryHint => "设备时间是填写时设备上的时间（可能离线、时钟可能不准）；接收时间是服务器收到的时间。",
        "Device time is the clock of the device that made the change (it may have been offline, its clock may be wrong); received is when the server got it.";
    LoadingHistory => "正在加载…", "Loading…";
    BackToItem => "返回事项", "Back to the item";
    Unknown => "未知", "Unknown";
    Changes => "次修改", "changes";
    DeviceTime => "设备时间", "Device time";
    ReceivedTime => "接收时间", "Received";
    MadeOffline => "离线填写", "made offline";
    LedgerXlsx => "台账 Excel", "Ledger (Excel)";
    LedgerCsv => "台账 CSV", "Ledger (CSV)";
    ReportDocx => "报告 Word", "Report (Word)";
    ReportHtml => "报告网页", "Report (web page)";
    ReportTxt => "报告文本", "Report (text)";
    ReportsHint => "台账和整改报告由服务器根据最新数据生成。", "The server builds the ledger and the report from the latest data.";
    NoCampaigns => "还没有导入报告。", "No report has been imported yet.";
    ItemsUnit => "项", "items";
    AreasUnit => "个方面", "areas";
    ProblemsUnit => "个问题", "problems";
    ImportReport => "导入整改报告", "Import a report";
    ImportHint => "选择 .docx 或 .txt 文件，先检查，确认无误后再导入。再次导入同一轮巡察的报告会更新已有事项，不会丢失各单位的填报。",
        "Choose a .docx or .txt file, check it, then import. Importing the same inspection round again updates its items and keeps what units recorded.";
    PickAFile => "请先选择文件。", "Choose a file first.";
    CheckFile => "检查", "Check";
    ImportConfirm => "确认导入", "Import";
    NoWarnings => "没有警告。", "No warnings.";
    WarningsCount => "条警告，请核对原文：", "warnings; check these lines:";
    Line => "第", "Line";
    Created => "新建", "created";
    Updated => "更新", "updated";
    Unchanged => "未变", "unchanged";
    Name => "名称", "Name";
    Role => "角色", "Role";
    Devices => "在线设备", "Devices";
    Actions => "操作", "Actions";
    Disabled => "已停用", "disabled";
    Enabled => "已启用", "enabled";
    Disable => "停用", "Disable";
    Enable => "启用", "Enable";
    ResetPassword => "重置密码", "Reset password";
    NewPassword => "的新密码（仅显示一次）", "new password (shown once)";
    LogOutDevices => "退出所有设备", "Log out devices";
    DevicesLoggedOut => "台设备已退出", "devices logged out";
    NewAccount => "新建账号", "New account";
    PasswordGenerated => "密码由系统生成，只显示一次，请转交本人。", "A password is generated and shown once: pass it on.";
    Create => "创建", "Create";
    UnitsTitle => "单位", "Units";
    NewUnit => "新增或修改单位", "Add or rename a unit";
    UnitId => "单位代码", "Unit id";
    Kind => "类型", "Kind";
    KindSchool => "学校", "School";
    KindKindergarten => "幼儿园", "Kindergarten";
    KindDepartment => "股室", "Department";
    KindOther => "其他", "Other";
    AddItem => "新增事项", "Add an item";
    Campaign => "巡察报告", "Campaign";
    AreaNo => "方面序号", "Area no.";
    AreaTitle => "方面名称", "Area title";
    ProblemNo => "问题序号", "Problem no.";
    SubNo => "子项", "Sub no.";
    ProblemTitle => "问题概述", "Problem heading";
    OnePerLine => "（每行一条）", "(one per line)";
    NumbersNeeded => "请填写方面序号和问题序号。", "Fill in the area and problem numbers.";
});
