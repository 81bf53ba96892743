//! Every user-visible string, in Chinese (the default) and English: one table of messages
//! ([`Msg`], looked up with [`tr`]), and the names of the shared crate's enums (roles,
//! statuses, timings) in the UI's language.

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

    /// What follows a label ("截止时间：…" / "Deadline: …"): Chinese takes the full-width
    /// colon, English a colon and a space.
    pub fn colon(self) -> &'static str {
        match self {
            Lang::Zh => "：",
            Lang::En => ": ",
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

/// Declares [`Msg`] and [`tr`] from one table of (key, Chinese, English), so a string and
/// its translation are always written side by side.
macro_rules! messages {
    ($($key:ident => $zh:literal, $en:literal;)*) => {
        /// A message key. One variant per string; [`tr`] gives its text. The school build
        /// (no `office` feature) uses only some of them; the full build, all.
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        #[cfg_attr(not(feature = "office"), allow(dead_code))]
        pub enum Msg { $($key,)* }

        /// The text of a message in a language.
        pub fn tr(lang: Lang, msg: Msg) -> &'static str {
            match (lang, msg) {
                $((Lang::Zh, Msg::$key) => $zh, (Lang::En, Msg::$key) => $en,)*
            }
        }
    };
}

messages! {
    // Logging in, the top bar.
    AppName => "巡察整改", "Rectify";
    AppTagline => "整改一个销号一个，没整改到位绝不销号", "Close each item only when it is really done";
    Username => "用户名", "Username";
    Password => "密码", "Password";
    LogIn => "登录", "Log in";
    LoggingIn => "正在登录…", "Logging in…";
    LogOut => "退出", "Log out";
    LogOutTitle => "退出登录", "Log out";
    LogOutAllSent => "您的全部修改和文件都已同步到服务器。", "Everything you did has reached the server.";
    LogOutWaiting => "以下内容尚未同步到服务器：", "Not on the server yet:";
    LogOutChanges => "项修改", "changes";
    LogOutFiles => "个文件", "files";
    LogOutRefused => "条未处理的被拒绝修改", "refused changes not dealt with";
    LogOutKept => "退出后它们仍保存在本设备上，您下次在本设备登录时会继续同步。请勿清除浏览器数据。",
        "They stay on this device and sync when you next log in here. Do not clear the browser's data.";
    LogOutConfirm => "退出", "Log out";
    LogOutAnyway => "仍然退出", "Log out anyway";
    LogOutClear => "退出并清除本设备上的数据", "Log out and clear this device";
    LogOutCannotClear => "有内容尚未同步，不能清除本设备上的数据。",
        "Something has not reached the server yet: this device cannot be cleared.";
    LeftOnDevice => "本设备上有尚未同步的内容，需要该账号在本设备上重新登录才能发送：",
        "This device holds work that has not reached the server; that account must log in here again to send it:";
    LeftAt => "退出于", "logged out at";
    LoginFailed => "用户名或密码不正确", "Wrong username or password";
    NetworkError => "无法连接服务器，请检查网络后重试",
        "Cannot reach the server; check the connection and try again";
    SignedInAs => "当前用户", "Signed in as";
    SwitchLanguage => "切换语言", "Switch language";

    // Roles.
    RoleOffice => "领导小组办公室", "Leading-group office";
    RoleDepartment => "股室", "Department";
    RoleUnit => "学校/幼儿园", "School";
    RoleViewer => "查看", "Viewer";

    // The item list.
    NoItemsYet => "暂无整改事项", "No rectification items yet";
    MyItems => "整改事项", "Rectification items";
    Loading => "正在加载…", "Loading…";
    // The school build, given an account that oversees, loads the full build (issue #22).
    LoadingOfficePages => "正在加载管理页面…", "Loading the management pages…";
    SwitchRefused => "此浏览器不允许保存设置，无法加载管理页面。", "This browser does not keep settings, so the management pages cannot load.";
    Deadline => "整改时限", "Deadline";
    Overdue => "已逾期", "Overdue";
    ItemsCount => "项", "items";

    // The device store and the sync status.
    LocalStoreFailed => "本机存储不可用：", "Local storage is not available: ";
    DeviceWriteFailed => "无法写入本机存储，修改尚未保存：", "Could not write to this device's storage, the edit is not saved yet: ";
    StateOffline => "离线", "Offline";
    StateSyncing => "正在同步…", "Syncing…";
    StateSynced => "已全部同步", "All synced";
    StatePending => "条更改待同步", "changes waiting";
    StateError => "同步出错", "Sync error";
    StateUnstable => "连接不稳定，正在重试", "Link unstable, retrying";
    LastContact => "上次联系服务器", "Last contact";
    Colon => "：", ": ";
    UploadingOverHttp => "同步连接中断，文件仍在上传", "Sync link down; files still uploading over HTTP";
    SessionExpired => "登录已过期，请重新登录（本机数据不会丢失）",
        "Your login has expired: log in again (nothing on this device is lost)";
    LogInAgain => "重新登录", "Log in again";
    LastSynced => "上次同步", "Last synced";
    Never => "从未", "never";
    Unsynced => "有未同步的更改", "Has unsynced changes";
    WaitingForItems => "正在下载整改事项…", "Downloading items…";

    // An item, as a school works on it.
    BackToList => "返回列表", "Back to the list";
    Problem => "存在问题", "Problem";
    Measures => "整改措施", "Measures";
    MyProgress => "本单位整改情况", "Our progress";
    ProgressHint => "离线也可填写，联网后自动同步", "Works offline; syncs by itself when online";
    UnitStatusLabel => "本单位状态", "Our status";
    RequestSignOff => "申请销号", "Request sign-off";
    StartWork => "开始整改", "Start work";
    Withdraw => "撤回申请", "Withdraw request";
    ConfirmSignOffRequest => "确认申请销号？提交后由领导小组办公室审核；销号后本单位内容将锁定，不能再修改。", "Ask the office to sign this off? Once signed off, your entry is locked and cannot be changed.";
    ConfirmSubmit => "确认申请", "Yes, ask for sign-off";
    NothingToSubmit => "申请销号前，请先填写整改情况或上传至少一份佐证材料。", "Before asking for sign-off, describe the work done or add at least one piece of evidence.";
    LockedSignedOff => "已销号：本单位的整改内容已锁定，不能再修改。如需修改，请联系领导小组办公室退回。", "Signed off: your entry is locked. To change it, ask the office to send it back.";
    Feedback => "反馈与回复", "Feedback";
    FeedbackPlaceholder => "给领导小组办公室留言…", "A message to the office…";
    Send => "发送", "Send";
    NoFeedback => "暂无反馈", "No messages yet";
    Decisions => "办公室意见", "The office's decisions";
    SignedOff => "已销号", "Signed off";
    Returned => "已退回", "Sent back";
    Reason => "理由", "Reason";
    Conflict => "状态有冲突：", "Conflicting statuses: ";
    SetBy => "设置者", "set by";
    ItemNotHere => "此事项不在本机上（可能已不再分配给本单位）",
        "This item is not on this device (it may no longer be assigned to you)";

    // Changes the server refused.
    RefusedTitle => "未能同步的更改", "Changes not accepted";
    RefusedNoLongerYours => "此事项已不再分配给本单位，您的修改未被接受。",
        "This item is no longer assigned to your unit; your changes were not accepted.";
    RefusedByServer => "服务器拒绝了此修改：", "The server refused this change: ";
    RefusedTyped => "刚才输入的文字未能保存为修改：", "What you just typed could not be saved as a change: ";
    YourText => "您填写的内容（可复制保存）：", "What you wrote (copy it to keep it):";
    RefusedReapplied => "已在服务器的版本上重新保存的其他修改：",
        "Your other changes, made again on the server's copy: ";
    EditsCounted => " 项", "";
    RefusedNotReapplied => "以下修改未能保存（可复制保留）：",
        "These changes could not be kept (copy them to keep them):";
    EditNarrative => "整改情况", "Progress text";
    EditTick => "勾选措施", "Measure ticked";
    EditStatus => "状态变更", "Status change";
    EditAddEvidence => "添加佐证材料", "Evidence added";
    EditRemoveEvidence => "删除佐证材料", "Evidence removed";
    EditFeedback => "反馈留言", "Feedback";
    EditItemStatus => "事项状态", "Item status";
    EditOfPlan => "责任分工", "Plan";
    EditDefine => "问题与措施", "Problem and measures";
    Copy => "复制", "Copy";
    Dismiss => "知道了", "Dismiss";

    // Evidence files.
    Evidence => "佐证材料", "Evidence";
    TakePhoto => "拍照", "Take a photo";
    PickFiles => "选择文件", "Choose files";
    Caption => "文件说明（可选）", "Caption (optional)";
    EvidenceHint => "说明用于接下来添加的文件。照片在本机压缩；离线也可添加，联网后自动上传。单个文件上限",
        "The caption goes with the next files you add. Photos are compressed on this device; works offline, uploads when online. Largest file:";
    SpaceUsed => "已用空间", "Space used";
    Preparing => "正在处理文件…", "Preparing files…";
    NoEvidence => "暂无佐证材料", "No evidence yet";
    FileKindRefused => "不支持此类文件（仅限照片、PDF、Word、Excel、PPT）：",
        "This kind of file is not accepted (photos, PDF, Word, Excel, PowerPoint only): ";
    FileTooLarge => "文件过大：", "File too large: ";
    SizeLimit => "上限", "limit";
    FileUnreadable => "无法读取文件：", "Cannot read the file: ";
    FileAlreadyAdded => "已添加过此文件：", "Already added: ";
    FileNotSaved => "未能保存到本机：", "Could not save it on this device: ";
    UploadQueued => "等待上传", "Waiting to upload";
    UploadUploading => "上传中", "Uploading";
    UploadPaused => "已暂停", "Paused";
    UploadDone => "已上传", "Uploaded";
    UploadFailed => "上传失败：", "Upload failed: ";
    Pause => "暂停", "Pause";
    Resume => "继续", "Resume";
    Retry => "重试", "Retry";
    Remove => "删除", "Remove";
    ConfirmRemove => "确认删除", "Confirm removal";
    Cancel => "取消", "Cancel";
    FilesWaiting => "个文件待上传", "files waiting to upload";
    OpenFailed => "无法打开文件（离线或已无权查看）：",
        "Cannot open the file (offline, or no longer yours to see): ";

    // The page tabs.
    NavLabel => "页面", "Pages";
    NavDashboard => "总览", "Dashboard";
    NavItems => "问题清单", "Items";
    NavSupervise => "督办", "Supervise";
    NavReports => "报告", "Reports";
    NavAccounts => "单位与账号", "Accounts";
    Forbidden => "您的账号无权查看此页面。", "Your account may not open this page.";

    // The dashboard.
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
    DatePlaceholder => "年-月-日", "YYYY-MM-DD";
    DateHint => "日期请按“年-月-日”填写，如 2024-06-30", "Write the date as YYYY-MM-DD, e.g. 2024-06-30";
    ChooseReportFile => "选择报告文件（.docx 或 .txt）", "Choose the report (.docx or .txt)";
    NoFileChosen => "尚未选择文件", "No file chosen";
    DateImpossible => "没有这一天，请检查月份和日期", "There is no such day: check the month and the day";
    AtRisk => "临期", "Due soon";
    AwaitingReview => "待审核销号", "Awaiting sign-off";
    Total => "合计", "Total";
    Totals => "整体情况", "Totals";
    CompletionRate => "完成率", "Completion";
    ByArea => "各方面整改情况", "By area";
    SignOffChart => "销号进度（按周）", "Sign-offs by week";
    SignOffChartNote => "曲线：已销号的单位任务占全部分配任务的比例；红色刻度：有事项到期的周。", "Line: the share of assigned entries signed off; red ticks: weeks in which items fall due.";
    ThisWeek => "本周", "this week";
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

    // Supervision (督办) and the chase notice.
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

    // Reviewing an item: sign-off, send-back, the public status and the plan.
    ReasonNeeded => "退回需要填写理由。", "Sending back needs a reason.";
    ReasonHint => "退回理由（退回时必填）", "Reason (needed to send back)";
    LastChange => "最近更新", "Last change";
    MeasuresDone => "已落实措施", "Measures done";
    TicksOnRemoved => "已勾选、但办公室已删除的措施（不计入）：", "Ticked, but removed by the office (not counted):";
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

    // An item's history.
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
    Unverified => "未经服务器核实（记录发送账号之前的修改，此处为修改自带的署名）",
        "not verified (made before the server recorded senders: the name the change itself carries)";
    ClaimedOther => "修改自带的署名是", "the change itself claims to be by";
    ClaimedOtherWarning => "，与服务器记录的发送账号不一致", ", which is not the account that sent it";

    // Reports: downloads and importing.
    LedgerXlsx => "台账 Excel", "Ledger (Excel)";
    LedgerCsv => "台账 CSV", "Ledger (CSV)";
    ReportDocx => "报告 Word", "Report (Word)";
    ReportHtml => "报告网页", "Report (web page)";
    ReportTxt => "报告文本", "Report (text)";
    ReportsHint => "台账和整改报告由服务器根据最新数据生成。",
        "The server builds the ledger and the report from the latest data.";
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
    TodoCount => "项待办", "to do";
    OverdueCount => "项逾期", "overdue";
    ReturnedCount => "项被退回", "sent back";
    NothingToDo => "没有待办事项，都已销号。", "Nothing to do: everything is signed off.";
    OtherItems => "其他可查看的事项", "Other items you can read";
    LeftAloneHeading => "以下内容保留系统中的值，未按报告覆盖：", "Kept as the app has it, not overwritten by the report:";
    StatusField => "整改进度", "Status";
    NarrativeField => "整改情况", "Narrative";
    ReportSays => "报告为", "The report says";
    WarningsCount => "条警告，请核对原文：", "warnings; check these lines:";
    Line => "第", "Line";
    ReportTextOpen => "报告正文", "Report text";
    ReportTextHint => "导入报告时读入。这里改的是条目以外的文字，下载的报告（Word、网页、文本）按此印出。某一部分标题和正文都留空，报告中就不印这一部分，其后各部分依次编号。",
        "Read from the imported report. This is the text around the items; the downloaded report (Word, web page, text) prints it. A part with neither heading nor text is left out, and the parts after it are numbered on.";
    ReportTitle => "标题", "Title";
    ReportTitlePlaceholder => "没有标题时，网页版和 Word 版用“发布单位关于……的通报”",
        "Without one, the web page and Word use “<publisher>关于…的通报”";
    ReportPreamble => "开头段落", "Opening paragraph";
    PartOrganisation => "一、整改工作开展情况", "Part 1: how the work was organised";
    PartItems => "二、整改工作具体落实情况", "Part 2: the items";
    PartItemsHint => "这一部分是各条目及汇总，在事项页修改。", "This part is the items and their totals; edit them on the item pages.";
    PartResults => "三、整改工作取得的主要成效", "Part 3: results";
    PartNextSteps => "四、下一步工作打算", "Part 4: next steps";
    PartHeading => "标题", "Heading";
    PartBody => "正文", "Text";
    ReportPublisher => "发布单位（落款）", "Publisher (signature)";
    ReportPublished => "发布日期", "Date of publication";
    SaveReportText => "保存正文", "Save the text";
    ReportTextSaved => "已保存，下载的报告即按新正文生成。", "Saved: downloaded reports now carry this text.";
    Created => "新建", "created";
    Updated => "更新", "updated";
    Unchanged => "未变", "unchanged";

    // Units and accounts.
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
    PasswordGenerated => "密码由系统生成，只显示一次，请转交本人。",
        "A password is generated and shown once: pass it on.";
    Create => "创建", "Create";
    UnitsTitle => "单位", "Units";
    NewUnit => "新增或修改单位", "Add or rename a unit";
    UnitId => "单位代码", "Unit id";
    Kind => "类型", "Kind";
    KindSchool => "学校", "School";
    KindKindergarten => "幼儿园", "Kindergarten";
    KindDepartment => "股室", "Department";
    KindOther => "其他", "Other";

    // An item added by hand.
    AddItem => "新增事项", "Add an item";
    Campaign => "巡察报告", "Campaign";
    AreaNo => "方面序号", "Area no.";
    AreaTitle => "方面名称", "Area title";
    ProblemNo => "问题序号", "Problem no.";
    SubNo => "子项", "Sub no.";
    ProblemTitle => "问题概述", "Problem heading";
    OnePerLine => "（每行一条）", "(one per line)";
    NumbersNeeded => "请填写方面序号和问题序号。", "Fill in the area and problem numbers.";

    // What a line of an item's history did, by the edit recorded with it.
    OpUnitNarrative => "填写整改情况", "wrote progress";
    OpTickMeasure => "勾选整改措施", "ticked measures";
    OpUnitStatus => "变更进度", "changed the status";
    OpAddEvidence => "上传佐证材料", "added evidence";
    OpRemoveEvidence => "删除佐证材料", "removed evidence";
    OpAddFeedback => "留言", "wrote a message";
    OpItemStatus => "变更整改进度", "changed the item's status";
    OpPlan => "调整责任分工", "changed the plan";
    OpDefine => "修改问题与措施", "changed the definition";
    OpImport => "导入报告", "imported the report";
    OpCreate => "创建事项", "created the item";

    // The fields a line of an item's history shows.
    FieldNarrative => "整改情况", "progress";
    FieldStatus => "进度", "status";
    FieldMeasure => "整改措施", "measure";
    FieldEvidence => "佐证材料", "evidence";
    FieldFeedback => "留言", "message";
    FieldReview => "审核", "decision";
    FieldTitle => "存在问题", "problem";
    FieldMeasures => "整改措施", "measures";
    FieldPlanLeader => "责任领导", "leader";
    FieldPlanDepartment => "责任部门", "department";
    FieldPlanUnits => "责任单位", "units";
    FieldPlanDeadline => "整改时限", "deadline";
    FieldPlanTiming => "整改方式", "timing";
    FieldItemStatus => "整改进度", "item status";
    FieldOfficeNarrative => "整改情况（报告）", "report narrative";

    // Signed-in devices (one's own sessions; the office's view of an account's).
    MyDevices => "我的登录设备", "Signed-in devices";
    MyDevicesShort => "登录设备", "Devices";
    MyDevicesHint => "这些设备正登录着您的账号。不认识的设备或丢失的手机，请点“结束”让它退出。", "These devices are signed in to your account. End any you do not recognise, or a lost phone.";
    UnknownDevice => "未知设备", "Unknown device";
    ThisDevice => "本设备", "This device";
    SignedInAt => "登录于", "Signed in";
    LastSeen => "最近使用", "Last seen";
    EndSession => "结束", "End";
    EndSessionAsk => "结束后该设备需重新登录。确定结束？", "That device will have to sign in again. End it?";
    SessionEnded => "已结束该设备的登录", "That device was signed out";
    NoSessions => "没有登录中的设备", "No signed-in devices";
    ShowSessions => "查看设备", "Show devices";
    HideSessions => "收起设备", "Hide devices";

    // The audit log.
    NavAudit => "审计日志", "Audit log";
    AuditAction => "操作类型", "Action";
    AuditAllActions => "全部操作", "All actions";
    AuditAccount => "操作账号", "Account";
    AuditFrom => "起始日期", "From";
    AuditTo => "截止日期", "To";
    AuditApply => "筛选", "Filter";
    AuditOlder => "更早的记录", "Older entries";
    AuditEmpty => "没有符合条件的记录", "No matching entries";
    AuditDownloadCsv => "下载 CSV", "Download CSV";
    AuditDownloadXlsx => "下载 Excel", "Download Excel";
    AuditTarget => "对象", "Target";
}

/// A deadline tick of the sign-off chart: `n` open items due in the week ending `sunday`.
#[cfg(feature = "office")]
pub fn due_in_week(lang: Lang, n: usize, sunday: &str) -> String {
    match lang {
        Lang::Zh => format!("{n} 项事项在截至 {sunday} 的一周到期"),
        Lang::En => format!("{n} item(s) due in the week ending {sunday}"),
    }
}

/// The sign-off chart in one sentence (for screen readers): where the line ends.
#[cfg(feature = "office")]
pub fn sign_off_summary(lang: Lang, signed_off: usize, assigned: usize) -> String {
    match lang {
        Lang::Zh => format!("截至本周，{assigned} 项单位任务中已销号 {signed_off} 项"),
        Lang::En => format!("{signed_off} of {assigned} assigned entries signed off by this week"),
    }
}

/// Signed-off entries the chart has no date for (signed off by an import).
#[cfg(feature = "office")]
pub fn undated_sign_offs(lang: Lang, n: usize) -> String {
    match lang {
        Lang::Zh => format!("另有 {n} 项销号没有记录时间，从第一周起计入。"),
        Lang::En => format!("{n} sign-off(s) have no recorded date and count from the first week."),
    }
}

/// An audit log action (`AuditEntry::action`) in words; an unknown one as it is.
#[cfg(feature = "office")]
pub fn audit_action_name(lang: Lang, action: &str) -> String {
    let (zh, en) = match action {
        "account_created" => ("创建账号", "Account created"),
        "account_disabled" => ("停用账号", "Account disabled"),
        "account_enabled" => ("启用账号", "Account enabled"),
        "password_reset" => ("重置密码", "Password reset"),
        "sessions_revoked" => ("退出所有设备", "Signed out everywhere"),
        "session_ended" => ("结束一台设备的登录", "Device signed out"),
        "import" => ("导入报告", "Report imported"),
        "item_added" => ("新增问题", "Item added"),
        "item_replanned" => ("调整整改安排", "Item re-planned"),
        "signed_off" => ("销号", "Signed off"),
        "sent_back" => ("退回", "Sent back"),
        "file_downloaded" => ("下载佐证材料", "Evidence downloaded"),
        "schema_migrated" => ("升级数据格式", "Item migrated to schema 2"),
        other => return other.to_owned(),
    };
    match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.to_owned(),
    }
}

/// An audit entry's account: a username as it is, the server's command line in words.
#[cfg(feature = "office")]
pub fn audit_account(lang: Lang, account: &str) -> String {
    match (account, lang) {
        (rectify_shared::api::AUDIT_COMMAND_LINE, Lang::Zh) => "服务器命令行（rectify）".to_owned(),
        (rectify_shared::api::AUDIT_COMMAND_LINE, Lang::En) => {
            "the server's command line (rectify)".to_owned()
        }
        (account, _) => account.to_owned(),
    }
}

/// An audit entry's detail in words where it is a bare value (the number of sessions a
/// "sign out everywhere" ended); otherwise as stored.
#[cfg(feature = "office")]
pub fn audit_detail(lang: Lang, action: &str, detail: &str) -> String {
    match (action, lang) {
        ("sessions_revoked", Lang::Zh) => format!("结束了 {detail} 个登录"),
        ("sessions_revoked", Lang::En) => format!("{detail} sessions ended"),
        _ => detail.to_owned(),
    }
}

/// The actions of the audit log, for the filter.
#[cfg(feature = "office")]
pub const AUDIT_ACTIONS: [&str; 13] = [
    "account_created",
    "account_disabled",
    "account_enabled",
    "password_reset",
    "sessions_revoked",
    "session_ended",
    "import",
    "item_added",
    "item_replanned",
    "signed_off",
    "sent_back",
    "file_downloaded",
    "schema_migrated",
];

// The names of the shared crate's enums in the UI's language. Except for roles, their
// Chinese is the shared crate's own (the report's wording), so it is written once.

/// A role in the UI's language.
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
